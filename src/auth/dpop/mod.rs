//! DPoP (RFC 9449): proof checks, the replay store and server nonces, put
//! together by [`DpopVerifier`], which the authenticator calls after the
//! access token itself has been validated.

pub mod htu;
pub mod nonce;
pub mod proof;
mod proof_error;
pub mod proof_key;
pub mod replay;
pub mod verifiers;

use std::sync::Arc;

use actix_web::HttpRequest;

use super::policy::{DpopMode, DpopPolicy};
pub use nonce::NonceIssuer;
pub use proof::{check_proof, CheckedProof, ProofRequest};
pub use proof_error::ProofError;
pub use proof_key::ProofKey;
pub use replay::{
    MemoryReplayCache, MemoryReplayStore, Recorded, RedisReplayStore, RedisStoreError, ReplayCache,
    ReplayKey, ReplayStore, ReplayStoreError, ReplayStoreStats,
};
pub use verifiers::{VerifierCache, DEFAULT_VERIFIER_CACHE_ENTRIES};

/// A [`DpopPolicy`] that cannot work; found when the verifier is built, at
/// start-up, never on the request path.
#[derive(Debug, thiserror::Error)]
pub enum DpopSetupError {
    /// DPoP is enabled with an empty algorithm allow-list.
    #[error("the DPoP policy allows no proof algorithm")]
    NoAlgorithms,
    /// A replay store of no entries would refuse every proof.
    #[error("the DPoP replay store needs room for at least one entry")]
    EmptyReplayCache,
    /// Nonces need a rotation interval of at least one second.
    #[error("the DPoP nonce rotation interval must be at least one second")]
    ZeroNonceRotation,
    /// No random nonce secret could be drawn.
    #[error("cannot draw a random DPoP nonce secret: {0}")]
    Random(openssl::error::ErrorStack),
}

/// Everything needed to check DPoP proofs, built once at start-up from a
/// [`DpopPolicy`] and shared by all workers.
#[derive(Debug, Clone)]
pub struct DpopVerifier {
    policy: DpopPolicy,
    algs: Arc<str>,
    replay: Arc<dyn ReplayStore>,
    nonces: Option<NonceIssuer>,
    verifiers: Arc<VerifierCache>,
}

impl DpopVerifier {
    /// A verifier for `policy`, with an in-memory replay store of the
    /// policy's size, a cache of the last
    /// [`DEFAULT_VERIFIER_CACHE_ENTRIES`] proof keys' verifiers and, when
    /// nonces are on, a nonce issuer.
    pub fn new(policy: DpopPolicy) -> Result<Self, DpopSetupError> {
        if policy.mode.accepts_dpop() && policy.algorithms.is_empty() {
            return Err(DpopSetupError::NoAlgorithms);
        }
        if policy.replay_cache_entries == 0 {
            return Err(DpopSetupError::EmptyReplayCache);
        }
        let nonces = policy.nonce.as_ref().map(NonceIssuer::new).transpose()?;
        let algs = policy
            .algorithms
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Self {
            replay: Arc::new(MemoryReplayStore::new(policy.replay_cache_entries)),
            algs: Arc::from(algs),
            nonces,
            verifiers: Arc::new(VerifierCache::new(DEFAULT_VERIFIER_CACHE_ENTRIES)),
            policy,
        })
    }

    /// The same verifier remembering proofs in `store` instead, e.g. a
    /// [`RedisReplayStore`] shared by several replicas.
    pub fn with_replay_store(mut self, store: Arc<dyn ReplayStore>) -> Self {
        self.replay = store;
        self
    }

    /// The name [`Self::with_replay_store`] had before stores could fail.
    pub fn with_replay_cache(self, store: Arc<dyn ReplayStore>) -> Self {
        self.with_replay_store(store)
    }

    /// Where used proofs are remembered.
    pub fn replay_store(&self) -> &dyn ReplayStore {
        self.replay.as_ref()
    }

    /// The policy proofs are checked against.
    pub fn policy(&self) -> &DpopPolicy {
        &self.policy
    }

    /// Which schemes are accepted.
    pub fn mode(&self) -> DpopMode {
        self.policy.mode
    }

    /// The accepted proof algorithms, space-separated, for the `algs`
    /// challenge parameter (RFC 9449 §7.1).
    pub fn algs(&self) -> Arc<str> {
        Arc::clone(&self.algs)
    }

    /// The normalised URL of `req` that `htu` must match.
    pub fn request_url(&self, req: &HttpRequest) -> Option<String> {
        htu::request_url(&self.policy.request_url, req)
    }

    /// RFC 9449 §4.3's checks of the proof itself.
    pub fn check(&self, request: &ProofRequest<'_>) -> Result<CheckedProof, ProofError> {
        check_proof(request, &self.policy, &self.verifiers)
    }

    /// With nonces on, whether `proof` carries a current nonce; `Err` holds
    /// a fresh one for the `use_dpop_nonce` answer (RFC 9449 §9).
    pub fn check_nonce(&self, proof: &CheckedProof, now: i64) -> Result<(), String> {
        match &self.nonces {
            None => Ok(()),
            Some(issuer) => match &proof.nonce {
                Some(nonce) if issuer.accepts(nonce, now) => Ok(()),
                _ => Err(issuer.current(now)),
            },
        }
    }

    /// Whether server nonces are on, so answers carry a `DPoP-Nonce`.
    pub fn issues_nonces(&self) -> bool {
        self.nonces.is_some()
    }

    /// A fresh nonce for a `DPoP-Nonce` response header, when nonces are on.
    pub fn fresh_nonce(&self, now: i64) -> Option<String> {
        self.nonces.as_ref().map(|issuer| issuer.current(now))
    }

    /// Records `proof` as used; a second use within its acceptance window is
    /// [`ProofError::Replayed`] (RFC 9449 §11.1). The proof stays acceptable
    /// until `iat + iat_offset`, so it is remembered that long. A store that
    /// cannot record it refuses the request ([`ReplayRefusal::Store`]).
    pub async fn check_replay(&self, proof: &CheckedProof, now: i64) -> Result<(), ReplayRefusal> {
        let offset = i64::try_from(self.policy.iat_offset.as_secs()).unwrap_or(i64::MAX);
        let expires_at = proof.iat.saturating_add(offset).saturating_add(1);
        let key = ReplayKey::new(&proof.jkt, &proof.jti);
        match self.replay.record(key, expires_at, now).await {
            Ok(Recorded::New) => Ok(()),
            Ok(Recorded::Replay) => Err(ReplayRefusal::Proof(ProofError::Replayed)),
            Err(error) => Err(ReplayRefusal::Store(error)),
        }
    }
}

/// Why [`DpopVerifier::check_replay`] refused a proof: the client's fault, or
/// the store's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayRefusal {
    /// The proof was used before (401 `invalid_dpop_proof`).
    Proof(ProofError),
    /// The store could not say (503 `temporarily_unavailable`).
    Store(ReplayStoreError),
}
