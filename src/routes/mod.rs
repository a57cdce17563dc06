//! HTTP handlers. They receive verified claims from the auth middleware,
//! never raw tokens.
//!
//! [`ROUTES`] is the one list of the API's routes: [`configure`] mounts each
//! at the path and methods of its `#[utoipa::path]` attribute, wrapped as its
//! [`Access`] says, and the OpenAPI document is built from the same entries,
//! so `/openapi.json` cannot list a route that is not served, miss one that
//! is, or promise a permission the route does not check.

use actix_web::http::header::Allow;
use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use utoipa::openapi::path::{HttpMethod, Operation};

use crate::auth::{authentication, RequireScopes};

pub mod docs;
pub mod health;
pub mod messages;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// Any valid access token.
    Token,
    /// A valid access token granting every one of these permissions, in
    /// `scope` or `permissions`.
    Permissions(&'static [&'static str]),
}

/// A route's `#[utoipa::path]` documentation: where it is served and how it
/// answers.
#[derive(Clone)]
pub struct Documented {
    /// The path, e.g. `/api/private`.
    pub path: String,
    /// The methods it is served at.
    pub methods: Vec<HttpMethod>,
    /// The operation: summary, description, tags and success responses.
    pub operation: Operation,
}

/// The documentation of the handler whose `#[utoipa::path]` made `P`,
/// listed under `tag`. (utoipa keeps an attribute's `tag` out of
/// `Path::operation`, behind a hidden trait, hence the argument.)
pub fn documented<P: utoipa::Path>(tag: &str) -> Documented {
    let mut operation = P::operation();
    operation.tags = Some(vec![tag.to_owned()]);
    Documented {
        path: P::path(),
        methods: P::methods(),
        operation,
    }
}

/// The tag of the quickstart's routes.
pub const MESSAGES: &str = "messages";
/// The tag of probes and metrics.
pub const OPERATIONS: &str = "operations";

/// One route: its documentation, who may call it, and its handler.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The handler's documentation; its path and methods are where the
    /// route is mounted.
    pub doc: fn() -> Documented,
    /// Who may call it; the route is wrapped to enforce exactly this.
    pub access: Access,
    /// Attaches the handler to a route already guarded by method.
    handler: fn(actix_web::Route) -> actix_web::Route,
}

/// The service's routes, in the order the document lists them. `/metrics`
/// is not here: whether and where it is served depends on the settings, so
/// `startup` mounts and documents it.
pub const ROUTES: &[Route] = &[
    Route {
        doc: || documented::<messages::__path_public>(MESSAGES),
        access: Access::Public,
        handler: |route| route.to(messages::public),
    },
    Route {
        doc: || documented::<messages::__path_private>(MESSAGES),
        access: Access::Token,
        handler: |route| route.to(messages::private),
    },
    Route {
        doc: || documented::<messages::__path_private_scoped>(MESSAGES),
        access: Access::Permissions(&["read:messages"]),
        handler: |route| route.to(messages::private_scoped),
    },
    Route {
        doc: || documented::<messages::__path_protected>(MESSAGES),
        access: Access::Token,
        handler: |route| route.to(messages::protected),
    },
    Route {
        doc: || documented::<messages::__path_profile>(MESSAGES),
        access: Access::Token,
        handler: |route| route.to(messages::profile),
    },
    Route {
        doc: || documented::<health::__path_healthz>(OPERATIONS),
        access: Access::Public,
        handler: |route| route.to(health::healthz),
    },
    Route {
        doc: || documented::<health::__path_readyz>(OPERATIONS),
        access: Access::Public,
        handler: |route| route.to(health::readyz),
    },
];

/// Mounts every route of [`ROUTES`]. Each protected route is wrapped on its
/// own, so an unknown path is a 404, not a 401; and the wrap is on the route,
/// inside the method check, so an undocumented method is a 405 whatever the
/// credentials, without validating a token for nothing.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for route in ROUTES {
        let doc = (route.doc)();
        let methods: Vec<Method> = doc.methods.iter().map(method).collect();
        let resource = methods.iter().fold(web::resource(doc.path), |r, m| {
            r.route(guarded(route, web::route().method(m.clone())))
        });
        // actix's own 405 leaves out the `Allow` header RFC 9110 §15.5.6 requires.
        let allow = Allow(methods);
        cfg.service(resource.default_service(web::to(move || {
            let allow = allow.clone();
            async move {
                HttpResponse::MethodNotAllowed()
                    .insert_header(allow)
                    .finish()
            }
        })));
    }
}

/// `route` with its handler, behind the middleware its [`Access`] needs.
fn guarded(route: &Route, method: actix_web::Route) -> actix_web::Route {
    let handled = (route.handler)(method);
    match route.access {
        Access::Public => handled,
        Access::Token => handled.wrap(authentication()),
        Access::Permissions(permissions) => handled
            // The last `wrap` runs first: authenticate, then check permissions.
            .wrap(RequireScopes::all(permissions.iter().copied()))
            .wrap(authentication()),
    }
}

/// The actix method for an OpenAPI one.
pub fn method(method: &HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}
