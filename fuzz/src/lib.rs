//! What the fuzz targets and the seed generator (`examples/make_seeds.rs`)
//! must agree on: the fixed clock, issuer, audience and request that seeds
//! are made for, and the public key set the token target verifies with.
//!
//! Everything is fixed, never read from the clock, so that a crashing input
//! crashes again when replayed next year; seeds signed for this clock keep
//! reaching the signature checks for the same reason.

use std::sync::OnceLock;

use auth0_actix_api::auth::keys::KeySet;
use auth0_actix_api::auth::policy::{Algorithm, ValidationPolicy};

/// The time every check runs at, seconds since the Unix epoch (January 2027).
pub const NOW: i64 = 1_800_000_000;

/// The issuer of the seed tokens and the one the validator expects.
pub const ISSUER: &str = "https://fuzz.example/";

/// The audience of the seed tokens and the one the validator accepts.
pub const AUDIENCE: &str = "https://api.fuzz.example";

/// The access token the DPoP target's proofs are bound to (their `ath`).
/// Any string does: the proof check only hashes it.
pub const DPOP_ACCESS_TOKEN: &str = "fuzz-access-token";

/// The method of the request the DPoP target checks proofs against.
pub const DPOP_METHOD: &str = "GET";

/// The URL of that request, as a proof's `htu` names it.
pub const DPOP_URL: &str = "https://api.fuzz.example/api/private";

/// The public JWK Set of the seed generator's signing keys. Regenerating the
/// seeds rewrites it with new keys, so the two always go together.
pub const JWKS: &[u8] = include_bytes!("../keys/jwks.json");

/// The validation policy of the token target: every algorithm the crate
/// supports, so every verifier is reachable, and the strict RFC 9068
/// profile off, as in the default settings.
pub fn validation_policy() -> ValidationPolicy {
    let mut policy = ValidationPolicy::new(ISSUER, vec![AUDIENCE.to_owned()]);
    policy.algorithms = Algorithm::ALL.to_vec();
    policy
}

/// [`JWKS`] parsed once per process.
///
/// # Panics
/// When `keys/jwks.json` is not a usable key set, which `make_seeds` never
/// writes: a fuzz target without its keys would only find that.
pub fn key_set() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| match KeySet::from_jwks(JWKS, &Algorithm::ALL) {
        Ok((keys, skipped)) if skipped.is_empty() => keys,
        other => panic!("keys/jwks.json is not the generator's key set: {other:?}"),
    })
}

/// The lines of a fuzz input that start with `tag` (a one-letter field name
/// and a space), without the tag. The text targets take several fields this
/// way, so that seeds stay readable and a mutation can add, drop or repeat
/// a field.
pub fn fields<'a>(input: &'a str, tag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    input
        .split('\n')
        .filter_map(move |line| line.strip_prefix(tag))
}
