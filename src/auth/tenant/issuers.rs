//! The accepted issuers, each with its own key cache: an Auth0 tenant's
//! canonical domain beside its custom domains, or several tenants behind
//! one API.
//!
//! A token's `iss` picks the key cache before any key is looked up, so a
//! key is only ever taken from the key set of the issuer the token names:
//! one issuer's key cannot vouch for another issuer's token, even when both
//! publish a key under the same `kid`. A token naming an issuer that is not
//! listed is refused without any network request: only listed issuers are
//! ever fetched from.
//!
//! Each issuer's [`KeyCache`] has its own fetcher thread, started (and so
//! warming up) when the cache is. For the handful of issuers this is meant
//! for, that is a few idle threads, each with the one HTTP client its
//! issuer needs anyway (another host, so nothing would pool across them),
//! and a hanging issuer cannot hold up another issuer's fetch.

use std::iter;
use std::sync::Arc;

use super::jwks::{KeyCache, KeyCacheError};
use super::transport::discovery_url;
use crate::auth::policy::KeyCachePolicy;

/// The list of issuers is unusable: empty, or naming an issuer twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuersError {
    /// No issuer at all: every token would be refused.
    #[error("no issuer is configured; every token would be refused")]
    Empty,
    /// The same issuer twice, which would start two key caches for it.
    #[error("the issuer {0:?} is listed twice; list each issuer once")]
    Duplicate(String),
}

/// One accepted `iss` value and the key cache its tokens are checked with.
#[derive(Debug)]
struct Entry {
    issuer: Box<str>,
    keys: KeyCache,
}

/// The entries, split so that "at least one" is a fact of the type rather
/// than a promise every reader must trust.
#[derive(Debug)]
struct Entries {
    first: Entry,
    rest: Box<[Entry]>,
}

/// The accepted issuers, in the order they were given, each with its own
/// key cache. Never empty. Cheap to clone: clones share the caches.
#[derive(Debug, Clone)]
pub struct Issuers {
    entries: Arc<Entries>,
}

impl Issuers {
    /// The issuers of `caches`: a token is accepted from each cache's own
    /// issuer ([`KeyCache::issuer`]) and checked with that cache's keys
    /// only. The order is kept: readiness and metrics report in it.
    pub fn new(caches: Vec<KeyCache>) -> Result<Self, IssuersError> {
        let issuers: Vec<&str> = caches.iter().map(KeyCache::issuer).collect();
        check_list(&issuers)?;
        let mut entries = caches.into_iter().map(|keys| Entry {
            issuer: keys.issuer().into(),
            keys,
        });
        let first = entries.next().ok_or(IssuersError::Empty)?;
        Ok(Self {
            entries: Arc::new(Entries {
                first,
                rest: entries.collect(),
            }),
        })
    }

    /// One issuer: tokens naming `issuer` are checked with `keys`. This is
    /// what [`crate::auth::Validator::new`] builds, and it keeps its meaning when
    /// `issuer` is not the cache's own issuer.
    pub fn single(issuer: impl Into<Box<str>>, keys: KeyCache) -> Self {
        Self {
            entries: Arc::new(Entries {
                first: Entry {
                    issuer: issuer.into(),
                    keys,
                },
                rest: Box::new([]),
            }),
        }
    }

    /// Starts a key cache for each policy (each begins fetching at once, in
    /// the background; see [`KeyCache::start`]). Every policy and the list
    /// itself are checked before any cache starts, so a bad entry starts no
    /// fetcher.
    pub fn start(policies: Vec<KeyCachePolicy>) -> Result<Self, KeyCacheError> {
        let issuers: Vec<&str> = policies.iter().map(|p| p.issuer.as_str()).collect();
        check_list(&issuers).map_err(|e| KeyCacheError::new(e.to_string()))?;
        for policy in &policies {
            discovery_url(&policy.issuer).map_err(KeyCacheError::new)?;
            policy
                .validate()
                .map_err(|e| KeyCacheError::new(format!("{} ({})", e, policy.issuer)))?;
        }
        let caches = policies
            .into_iter()
            .map(KeyCache::start)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(caches).map_err(|e| KeyCacheError::new(e.to_string()))
    }

    /// The key cache for tokens whose `iss` is exactly `iss`, if that
    /// issuer is accepted. One comparison per issuer; never allocates.
    pub fn get(&self, iss: &str) -> Option<&KeyCache> {
        self.entries().find(|e| &*e.issuer == iss).map(|e| &e.keys)
    }

    /// Where `iss` is in the list, for the verified-token cache to remember
    /// which issuer's keys vouched for a token.
    pub(crate) fn position(&self, iss: &str) -> Option<usize> {
        self.entries().position(|e| &*e.issuer == iss)
    }

    /// The key cache at `index`, as [`Self::position`] counts.
    pub(crate) fn keys_at(&self, index: usize) -> Option<&KeyCache> {
        let entry = match index.checked_sub(1) {
            None => Some(&self.entries.first),
            Some(i) => self.entries.rest.get(i),
        };
        entry.map(|e| &e.keys)
    }

    /// The first issuer given, with its key cache: the only one of a
    /// single-issuer validator.
    pub fn first(&self) -> (&str, &KeyCache) {
        let first = &self.entries.first;
        (&first.issuer, &first.keys)
    }

    /// Each accepted issuer with its key cache, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &KeyCache)> {
        self.entries().map(|e| (&*e.issuer, &e.keys))
    }

    /// How many issuers are accepted: at least one.
    pub fn len(&self) -> usize {
        1 + self.entries.rest.len()
    }

    /// Always false: there is always at least one issuer. Here because a
    /// `len` without it puzzles readers (and clippy).
    pub fn is_empty(&self) -> bool {
        false
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        iter::once(&self.entries.first).chain(self.entries.rest.iter())
    }
}

/// Refuses an empty list and an issuer named twice.
fn check_list(issuers: &[&str]) -> Result<(), IssuersError> {
    if issuers.is_empty() {
        return Err(IssuersError::Empty);
    }
    for (i, issuer) in issuers.iter().enumerate() {
        if issuers
            .get(..i)
            .is_some_and(|before| before.contains(issuer))
        {
            return Err(IssuersError::Duplicate((*issuer).to_owned()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::KeySet;
    use crate::auth::Algorithm;
    use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
    use josekit::jwk::KeyPair;

    fn cache(issuer: &str) -> KeyCache {
        let pair = EcKeyPair::generate(EcCurve::P256).unwrap();
        let jwks = serde_json::json!({"keys": [serde_json::Value::Object(
            pair.to_jwk_public_key().as_ref().clone()
        )]});
        let (keys, _) =
            KeySet::from_jwks(jwks.to_string().as_bytes(), &[Algorithm::ES256]).unwrap();
        KeyCache::with_keys(KeyCachePolicy::new(issuer), keys)
    }

    #[test]
    fn a_token_issuer_picks_its_own_cache_and_no_other() {
        let issuers = Issuers::new(vec![cache("https://a/"), cache("https://b/")]).unwrap();
        for (iss, index) in [("https://a/", 0), ("https://b/", 1)] {
            assert_eq!(issuers.get(iss).map(KeyCache::issuer), Some(iss), "{iss}");
            assert_eq!(issuers.position(iss), Some(index), "{iss}");
            assert_eq!(
                issuers.keys_at(index).map(KeyCache::issuer),
                Some(iss),
                "{iss} by position"
            );
        }
        for unlisted in ["https://c/", "https://a", "https://A/", ""] {
            assert!(
                issuers.get(unlisted).is_none(),
                "{unlisted:?} is not accepted"
            );
        }
        assert!(issuers.keys_at(2).is_none(), "past the end");
        assert_eq!(issuers.first().0, "https://a/", "the order is kept");
        let order: Vec<&str> = issuers.iter().map(|(iss, _)| iss).collect();
        assert_eq!(order, ["https://a/", "https://b/"]);
        assert_eq!(issuers.len(), 2);
    }

    #[test]
    fn an_empty_or_repeating_list_is_refused() {
        assert_eq!(Issuers::new(Vec::new()).unwrap_err(), IssuersError::Empty);
        let twice = Issuers::new(vec![
            cache("https://a/"),
            cache("https://b/"),
            cache("https://a/"),
        ]);
        assert_eq!(
            twice.unwrap_err(),
            IssuersError::Duplicate("https://a/".into())
        );
    }

    #[test]
    fn a_single_issuer_may_name_another_issuer_than_its_cache() {
        let issuers = Issuers::single("https://alias/", cache("https://a/"));
        assert!(issuers.get("https://alias/").is_some());
        assert!(issuers.get("https://a/").is_none());
        assert_eq!(issuers.len(), 1);
    }

    #[test]
    fn starting_checks_every_policy_before_any_fetcher_starts() {
        let cases = [
            (
                vec!["https://a.example/", "http://not-loopback.example/"],
                "not-loopback.example",
            ),
            (
                vec!["https://a.example/", "https://a.example/"],
                "listed twice",
            ),
            (Vec::new(), "no issuer"),
        ];
        for (issuers, expected) in cases {
            let policies = issuers.iter().map(|i| KeyCachePolicy::new(*i)).collect();
            let error = Issuers::start(policies).unwrap_err().to_string();
            assert!(error.contains(expected), "{issuers:?}: {error}");
        }
    }
}
