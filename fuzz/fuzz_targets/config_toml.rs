//! Any text as a config file: `GlobalConfig::load_from_str_with_resolver` (what
//! `stacks-signer` runs on its config file, with a resolver that asks no DNS server) never
//! panics; an error is one non-empty line, and a loaded config can be summarised and turned
//! into its event source filter.
#![no_main]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};

use libfuzzer_sys::fuzz_target;
use stacks_signer::config::GlobalConfig;

/// Literal addresses as the system resolves them; any name `host:port` (valid port) as
/// 127.0.0.1:port, without a DNS query.
fn offline_resolver(text: &str) -> std::io::Result<Vec<SocketAddr>> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| std::io::Error::other("no port"))?;
    let port: u16 = port.parse().map_err(std::io::Error::other)?;
    if host.is_empty() {
        return Err(std::io::Error::other("no host"));
    }
    if host == "localhost" {
        return Ok(("localhost", port).to_socket_addrs()?.collect());
    }
    Ok(vec![SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::LOCALHOST,
        port,
    ))])
}

fuzz_target!(|data: &[u8]| {
    // The signer reads its config with `read_to_string`: text that is not UTF-8 never gets
    // to the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match GlobalConfig::load_from_str_with_resolver(text, &offline_resolver) {
        Ok((config, warnings)) => {
            let _ = config.config_to_log_string();
            let _ = config.to_string();
            let _ = config.http_origin();
            let _ = config.to_chain_id();
            if !config.event_allowed_sources.is_any() {
                // Resolves node_host only when the sources name it; keep the fuzzer offline.
                let _ = config.event_allowed_sources.to_string();
            }
            for warning in warnings {
                let _ = warning.to_string();
            }
        }
        Err(e) => {
            let line = e.to_string();
            assert!(!line.is_empty());
            assert!(!line.contains('\n'), "{line}");
        }
    }
});
