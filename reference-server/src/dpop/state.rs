//! What DPoP remembers between requests (RFC 9449): the `jti`s of proofs already used
//! (§11.1), and the key the server's nonces are made with (§8). The state of
//! [`crate::app::App`]; the rules that use it are `endpoints/dpop.rs`'s.

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SecureRandom;

use crate::config::{Fault, ServerConfig};
use crate::dpop::{CheckedProof, DpopError};
use crate::race::Deferred;
use crate::replay::ReplayCache;

/// How long one nonce is handed out, in seconds; the previous one is still accepted, so a
/// nonce lives between one and two periods.
const NONCE_PERIOD: u64 = 60;

/// The state DPoP needs: the `jti`s of proofs already used, and the key nonces are made
/// with.
pub struct DpopState {
    replay: Mutex<ReplayCache>,
    nonce_key: ring::hmac::Key,
    /// Under `dpop-nonce-not-enforced` only: the keys (`jkt`) that have sent a nonce, whose
    /// proofs the faulty server then takes without one.
    pub(crate) nonce_users: Mutex<std::collections::HashSet<String>>,
}

impl Default for DpopState {
    fn default() -> DpopState {
        let mut secret = [0u8; 32];
        // Without OS randomness the nonces are still unpredictable enough for a test server
        // that does not outlive the process: mixed with the clock and the address of a local.
        if ring::rand::SystemRandom::new().fill(&mut secret).is_err() {
            let mixed = format!("{:?}{:p}", std::time::SystemTime::now(), &secret);
            secret.copy_from_slice(
                ring::digest::digest(&ring::digest::SHA256, mixed.as_bytes()).as_ref(),
            );
        }
        DpopState {
            replay: Mutex::new(ReplayCache::default()),
            nonce_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
            nonce_users: Mutex::default(),
        }
    }
}

impl DpopState {
    /// The nonce of the period `now` falls in: stateless, a MAC of the period's number.
    fn nonce_for(&self, period: u64) -> String {
        let tag = ring::hmac::sign(&self.nonce_key, &period.to_be_bytes());
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..18])
    }

    /// The resource server's nonce of a period (RFC 9449 §9): its own, not the
    /// authorization server's, so a client must learn it from the resource.
    fn resource_nonce_for(&self, period: u64) -> String {
        let mut message = b"resource".to_vec();
        message.extend_from_slice(&period.to_be_bytes());
        let tag = ring::hmac::sign(&self.nonce_key, &message);
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..18])
    }

    /// The resource server's nonce to hand out now.
    pub fn resource_nonce(&self, now: u64) -> String {
        self.resource_nonce_for(now / NONCE_PERIOD)
    }

    /// The resource server's nonces accepted now: this period's and the previous one's.
    pub(crate) fn resource_accepted(&self, now: u64) -> [String; 2] {
        let period = now / NONCE_PERIOD;
        [
            self.resource_nonce_for(period),
            self.resource_nonce_for(period.saturating_sub(1)),
        ]
    }

    /// The nonce to hand out now (`DPoP-Nonce`).
    pub fn nonce(&self, now: u64) -> String {
        self.nonce_for(now / NONCE_PERIOD)
    }

    /// The nonces accepted now: this period's and the previous one's.
    pub(crate) fn accepted(&self, now: u64) -> [String; 2] {
        let period = now / NONCE_PERIOD;
        [
            self.nonce_for(period),
            self.nonce_for(period.saturating_sub(1)),
        ]
    }

    /// Spends a proof's `jti`, unless a fault mode switched replay detection off: checked
    /// and recorded under one lock, or, under the fault `race-replay`, checked now and
    /// recorded after the window (`race.rs`), so identical proofs sent together all pass.
    pub(crate) fn spend(
        self: &Arc<Self>,
        config: &ServerConfig,
        checked: &CheckedProof,
        now: u64,
        deferred: &Deferred,
    ) -> Result<(), DpopError> {
        if config.has(Fault::DpopNoReplayCheck) {
            return Ok(());
        }
        let mut cache = self.replay.lock().unwrap_or_else(|e| e.into_inner());
        if config.has(Fault::RaceReplay) {
            let pending = checked.check_unused(&mut cache, now)?;
            drop(cache);
            let state = self.clone();
            deferred.push(move || {
                state
                    .replay
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .record(pending);
            });
            return Ok(());
        }
        checked.record_use(&mut cache, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_periods_nonce_is_still_accepted_and_older_ones_are_not() {
        let state = DpopState::default();
        let now = 1_800_000_000;
        let accepted = state.accepted(now);
        assert_eq!(accepted[0], state.nonce(now));
        assert_eq!(accepted[1], state.nonce(now - NONCE_PERIOD));
        assert!(!accepted.contains(&state.nonce(now - 2 * NONCE_PERIOD)));
        assert_ne!(DpopState::default().nonce(now), state.nonce(now));
    }
}
