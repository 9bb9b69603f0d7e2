//! The brute-force throttle around one client authentication (`auth.rs` calls it for
//! registered clients): a pair that waits is refused before its secret is checked, and the
//! outcome counts after. Requests sent together all pass the first check; the count decides
//! their answers atomically, so no more than `max_failures` of them get one (issue 21).

use std::sync::Arc;

use super::{FailureThrottle, Noted, Source};
use crate::app::App;
use crate::clients::Client;
use crate::config::Fault;
use crate::events::Event;
use crate::request::Request;
use crate::response::{ErrorCode, OAuthError};

/// Runs `check` (the credentials' check) for `client` under the throttle.
pub fn guarded<'a>(
    app: &'a App,
    request: &Request<'_>,
    throttle: &Arc<FailureThrottle>,
    client: &Arc<str>,
    check: impl FnOnce() -> Result<&'a Client, OAuthError>,
) -> Result<&'a Client, OAuthError> {
    let source = Source::from(request.peer);
    // The fault `throttle-race` reads the count before the secret is checked and writes it
    // back after the window (`race.rs`): requests sent together all read the same count.
    let racy = app.config.has(Fault::ThrottleRace);
    let read = racy.then(|| throttle.snapshot(client, source));
    if let Some(retry_after) = throttle.waiting(client, source) {
        return Err(OAuthError::too_many_failures(retry_after));
    }
    let result = check();
    match &result {
        Ok(_) => {
            // Requests sent together with this one may have started the pair's wait.
            if let Some(retry_after) = throttle.record_success(client, source) {
                return Err(OAuthError::too_many_failures(retry_after));
            }
        }
        Err(e) if e.code == ErrorCode::InvalidClient => {
            if let Some(read) = read {
                let (throttle, client) = (throttle.clone(), client.clone());
                request
                    .deferred
                    .push(move || throttle.write_back_failure(&client, source, read));
                return result;
            }
            let settings = throttle.settings();
            match throttle.record_failure(client, source) {
                Noted::Nothing => {}
                // Past the free failures by requests sent together: refused as waiting.
                Noted::Waiting(retry_after) => {
                    return Err(OAuthError::too_many_failures(retry_after))
                }
                Noted::StartedWaiting => app.events.note(Event::ThrottleDelay, || {
                    format!(
                        "client '{client}' from {source}: {} failed authentications; its attempts from there now wait (1 s, doubling up to {} s)",
                        settings.max_failures,
                        settings.max_delay.as_secs()
                    )
                }),
                Noted::Shared => app.events.note(Event::ThrottleTableFull, || {
                    format!(
                        "brute-force table full: failed authentications of client '{client}' from addresses not yet tracked (such as {source}) now share one limit"
                    )
                }),
            }
        }
        Err(_) => {}
    }
    result
}
