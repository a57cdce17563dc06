//! Server-issued DPoP nonces (RFC 9449 §8 and §9), stateless: a nonce is the
//! HMAC-SHA256 of its time window under a server secret, so any worker (or
//! any replica sharing the secret) can check it without remembering it.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::sha::Sha256;

use super::super::policy::NoncePolicy;
use super::DpopSetupError;

/// SHA-256's block size, the HMAC key length (RFC 2104 §2).
const BLOCK: usize = 64;

/// Issues and checks nonces. Built once; cheap to use from every worker.
#[derive(Clone)]
pub struct NonceIssuer {
    /// The HMAC key, padded (or hashed) to one block, so computing a MAC
    /// cannot fail on the request path.
    key: [u8; BLOCK],
    rotation_secs: i64,
}

impl fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceIssuer")
            .field("key", &"******")
            .field("rotation_secs", &self.rotation_secs)
            .finish()
    }
}

impl NonceIssuer {
    /// An issuer for `policy`; draws a random 256-bit secret when the policy
    /// has none.
    pub fn new(policy: &NoncePolicy) -> Result<Self, DpopSetupError> {
        let rotation_secs = i64::try_from(policy.rotation.as_secs()).unwrap_or(i64::MAX);
        if rotation_secs == 0 {
            return Err(DpopSetupError::ZeroNonceRotation);
        }
        let secret = match &policy.secret {
            Some(secret) if !secret.is_empty() => secret.clone(),
            _ => {
                let mut random = vec![0u8; 32];
                openssl::rand::rand_bytes(&mut random).map_err(DpopSetupError::Random)?;
                random
            }
        };
        Ok(Self {
            key: block_key(&secret),
            rotation_secs,
        })
    }

    /// The nonce of the window `now` (Unix seconds) falls in.
    pub fn current(&self, now: i64) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(self.window(now)))
    }

    /// Whether `nonce` is the current window's or the previous one's, so a
    /// nonce issued just before a rotation still works.
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        let Ok(given) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        if given.len() != 32 {
            return false;
        }
        let window = self.window(now);
        [window, window.saturating_sub(1)]
            .into_iter()
            // Constant time, so the comparison leaks nothing about the MAC.
            .any(|w| openssl::memcmp::eq(&given, &self.mac(w)))
    }

    fn window(&self, now: i64) -> i64 {
        now.div_euclid(self.rotation_secs)
    }

    fn mac(&self, window: i64) -> [u8; 32] {
        let mut message = Vec::with_capacity(19);
        message.extend_from_slice(b"dpop-nonce:");
        message.extend_from_slice(&window.to_be_bytes());
        hmac_sha256(&self.key, &message)
    }
}

/// RFC 2104 §2: keys longer than a block are hashed first, shorter ones are
/// padded with zeros.
fn block_key(secret: &[u8]) -> [u8; BLOCK] {
    let mut key = [0u8; BLOCK];
    if secret.len() > BLOCK {
        key[..32].copy_from_slice(&openssl::sha::sha256(secret));
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    key
}

/// HMAC-SHA256 (RFC 2104) over a block-sized key. Written out over
/// `openssl::sha`, which cannot fail, rather than `openssl::sign`, which
/// returns errors the request path would have to invent answers for.
fn hmac_sha256(key: &[u8; BLOCK], message: &[u8]) -> [u8; 32] {
    let mut inner = Sha256::new();
    inner.update(&key.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finish();
    let mut outer = Sha256::new();
    outer.update(&key.map(|b| b ^ 0x5c));
    outer.update(&inner);
    outer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::hex::hex;
    use std::time::Duration;

    #[test]
    fn hmac_matches_rfc_4231_test_cases() {
        // RFC 4231 §4.2 (test case 1) and §4.7 (test case 6, a key longer than a block).
        let digest = hmac_sha256(&block_key(&[0x0b; 20]), b"Hi There");
        assert_eq!(
            hex(&digest),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            "test case 1"
        );
        let digest = hmac_sha256(
            &block_key(&[0xaa; 131]),
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex(&digest),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            "test case 6"
        );
    }

    fn issuer(secret: &[u8]) -> NonceIssuer {
        NonceIssuer::new(&NoncePolicy {
            rotation: Duration::from_secs(300),
            secret: Some(secret.to_vec()),
        })
        .unwrap()
    }

    #[test]
    fn nonces_live_for_the_current_and_the_previous_window() {
        let issuer = issuer(b"a secret of reasonable length, 32+");
        let nonce = issuer.current(3_000);
        assert!(issuer.accepts(&nonce, 3_000), "in its own window");
        assert!(issuer.accepts(&nonce, 3_299), "at the end of its window");
        assert!(issuer.accepts(&nonce, 3_599), "in the next window");
        assert!(
            !issuer.accepts(&nonce, 3_600),
            "two windows later it is stale"
        );
        assert!(!issuer.accepts(&nonce, 2_999), "not before its window");
        assert_ne!(issuer.current(3_300), nonce, "nonces rotate");
    }

    #[test]
    fn nonces_are_stateless_across_issuers_with_one_secret() {
        let nonce = issuer(b"shared secret").current(10_000);
        assert!(
            issuer(b"shared secret").accepts(&nonce, 10_000),
            "same secret"
        );
        assert!(
            !issuer(b"other secret").accepts(&nonce, 10_000),
            "other secret"
        );
    }

    #[test]
    fn random_secrets_differ_and_junk_is_refused() {
        let policy = NoncePolicy::default();
        let a = NonceIssuer::new(&policy).unwrap();
        let b = NonceIssuer::new(&policy).unwrap();
        assert!(
            !b.accepts(&a.current(1_000), 1_000),
            "per-process secrets differ"
        );
        for junk in ["", "x", "!!!!", &"A".repeat(43), &"A".repeat(500)] {
            assert!(!a.accepts(junk, 1_000), "{junk:?}");
        }
        assert!(format!("{a:?}").contains("******"), "the key never prints");
    }
}
