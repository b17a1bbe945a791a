//! A path selector byte and any body: turning a node event body into a `SignerEvent`
//! (`libsigner::parse_event`, what the event receiver runs once it has acknowledged a POST)
//! never panics; an event is of the kind its path promises, a path that is not an event
//! endpoint is `UnrecognizedEvent`, and a decoded validation response round-trips through JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libsigner::v0::messages::SignerMessage;
use libsigner::{parse_event, BlockValidateResponse, EventError, SignerEvent, EVENT_PATHS};

/// Paths the selector chooses from: the four event endpoints, then two that are not.
const OTHER_PATHS: [&str; 2] = ["/shutdown", "/attachments/new"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let index = usize::from(selector) % (EVENT_PATHS.len() + OTHER_PATHS.len());
    let path = EVENT_PATHS
        .get(index)
        .or_else(|| OTHER_PATHS.get(index - EVENT_PATHS.len()))
        .copied()
        .unwrap_or("/");
    match parse_event::<SignerMessage>(path, body) {
        Ok(event) => {
            let kind_matches = match (&event, path) {
                (SignerEvent::MinerMessages(_), "/stackerdb_chunks")
                | (SignerEvent::SignerMessages { .. }, "/stackerdb_chunks")
                | (SignerEvent::NewBurnBlock { .. }, "/new_burn_block")
                | (SignerEvent::NewBlock { .. }, "/new_block") => true,
                (SignerEvent::BlockValidationResponse(response), "/proposal_response") => {
                    let json = serde_json::to_vec(response).expect("a response encodes");
                    let back: BlockValidateResponse =
                        serde_json::from_slice(&json).expect("an encoded response decodes");
                    assert_eq!(&back, response);
                    true
                }
                _ => false,
            };
            assert!(kind_matches, "{path} gave {event:?}");
        }
        Err(e) => {
            if !EVENT_PATHS.contains(&path) {
                assert!(matches!(e, EventError::UnrecognizedEvent(_)), "{e:?}");
            }
            let _ = e.to_string();
        }
    }
});
