//! Refusals rendered once per worker thread. A service under a flood of bad
//! or under-privileged tokens answers the same few refusals over and over;
//! keeping each one's challenge header and JSON body makes a refusal cost a
//! short lookup instead of formatting, header validation and serialisation,
//! so refusing stays no dearer than accepting.

use std::cell::RefCell;

use actix_web::http::header::HeaderValue;
use actix_web::web::Bytes;

use super::AuthError;

/// The parts of an error response that follow from the error alone.
#[derive(Debug, Clone)]
pub(super) struct Rendered {
    /// The `WWW-Authenticate` value, for the errors that have one.
    pub challenge: Option<HeaderValue>,
    /// The JSON body.
    pub body: Bytes,
}

/// Entries per thread: the distinct refusals of one service (reasons times
/// schemes, plus one per scope requirement) fit many times over, and a scan
/// of this many stays cheaper than rendering. A `Vec` in a thread-local
/// rather than a cache crate: with this few entries a scan of equal
/// errors beats hashing one, and a thread's own memo needs no lock.
const PER_THREAD: usize = 16;

#[derive(Default)]
struct Memo {
    entries: Vec<(AuthError, Rendered)>,
    /// The slot the next new entry replaces once the memo is full.
    next: usize,
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::default();
}

/// The rendering of `error`: `render()`'s result, remembered for the next
/// equal error on this thread. Rendering is a function of the error alone,
/// and the memo is keyed by the whole error, so a remembered answer is the
/// one `render()` would give.
pub(super) fn rendered(error: &AuthError, render: impl FnOnce() -> Rendered) -> Rendered {
    // During thread teardown, or if rendering ever re-entered this function,
    // the memo is unavailable: render afresh instead of panicking.
    let remembered = MEMO
        .try_with(|memo| {
            let memo = memo.try_borrow().ok()?;
            memo.entries
                .iter()
                .find(|(key, _)| key == error)
                .map(|(_, rendered)| rendered.clone())
        })
        .ok()
        .flatten();
    if let Some(rendered) = remembered {
        return rendered;
    }
    let rendered = render();
    let _ = MEMO.try_with(|memo| {
        if let Ok(mut memo) = memo.try_borrow_mut() {
            memo.remember(error.clone(), rendered.clone());
        }
    });
    rendered
}

impl Memo {
    fn remember(&mut self, error: AuthError, rendered: Rendered) {
        if self.entries.len() < PER_THREAD {
            self.entries.push((error, rendered));
        } else {
            self.entries[self.next] = (error, rendered);
            self.next = (self.next + 1) % PER_THREAD;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::auth::scheme::{Challenge, Scheme};

    fn scope_error(required: &str) -> AuthError {
        AuthError::InsufficientScope {
            required: Arc::from(required),
            needs: Arc::from(required),
            challenge: Challenge::new(Arc::from("api"), Scheme::Bearer),
        }
    }

    fn render_as(text: &str) -> impl FnOnce() -> Rendered + '_ {
        move || Rendered {
            challenge: Some(HeaderValue::from_str(text).unwrap()),
            body: Bytes::copy_from_slice(text.as_bytes()),
        }
    }

    #[test]
    fn an_equal_error_gets_the_remembered_rendering_and_another_error_its_own() {
        let first = rendered(&scope_error("read:a"), render_as("a"));
        assert_eq!(first.body, "a");
        // Remembered: the second renderer is never asked.
        let again = rendered(&scope_error("read:a"), || unreachable!("remembered"));
        assert_eq!(again.body, "a");
        assert_eq!(again.challenge, first.challenge);
        let other = rendered(&scope_error("read:b"), render_as("b"));
        assert_eq!(other.body, "b");
    }

    #[test]
    fn refusals_of_apps_with_different_body_formats_are_remembered_apart() {
        use crate::auth::body::ErrorBodyFormat;
        use actix_web::body::MessageBody;
        use actix_web::ResponseError;

        let format = |name: &'static str| ErrorBodyFormat::new(move |_| serde_json::json!(name));
        let challenge = Challenge::new(Arc::from("api"), Scheme::Bearer);
        let with = |challenge: Challenge| AuthError::MissingCredentials { challenge };
        let errors = [
            with(challenge.clone()),
            with(challenge.clone().with_body_format(format("first"))),
            with(challenge.clone().with_body_format(format("second"))),
        ];
        let answer = |error: &AuthError| {
            let response = error.error_response();
            let header = response.headers().get("www-authenticate").cloned();
            let body = response.into_body().try_into_bytes().ok().unwrap();
            (header, body)
        };
        // Twice each, on one thread: the second round comes from the memo.
        for _ in 0..2 {
            let answers: Vec<_> = errors.iter().map(answer).collect();
            let bodies: Vec<&[u8]> = answers.iter().map(|(_, b)| b.as_ref()).collect();
            assert_eq!(
                bodies,
                [
                    br#"{"error":"unauthorized","error_description":"Authentication required: send an access token in the Authorization header"}"#.as_slice(),
                    br#""first""#.as_slice(),
                    br#""second""#.as_slice(),
                ]
            );
            for (header, _) in &answers {
                assert_eq!(header.as_ref().unwrap(), "Bearer realm=\"api\"");
            }
        }
    }

    #[test]
    fn the_memo_stays_bounded_and_keeps_answering_correctly() {
        let names: Vec<String> = (0..PER_THREAD * 3).map(|i| format!("p{i}")).collect();
        for _ in 0..2 {
            for name in &names {
                let r = rendered(&scope_error(name), render_as(name));
                assert_eq!(r.body, name.as_str());
            }
        }
        let len = MEMO.with(|memo| memo.borrow().entries.len());
        assert_eq!(len, PER_THREAD);
        // The newest entries are the ones kept.
        let last = names.last().unwrap();
        let r = rendered(&scope_error(last), || unreachable!("remembered"));
        assert_eq!(r.body, last.as_str());
    }
}
