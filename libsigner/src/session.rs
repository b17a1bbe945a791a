//! Reading and writing a StackerDB through the node's RPC interface.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use ureq::http::Response;
use ureq::{Agent, Body};

use crate::chain::QualifiedContractIdentifier;
use crate::codec::StacksMessageCodec;
use crate::error::RPCError;
use crate::stackerdb::{
    stackerdb_get_chunk_path, stackerdb_get_metadata_path, stackerdb_post_chunk_path, SlotMetadata,
    StackerDBChunkAckData, StackerDBChunkData, SIGNERS_STACKERDB_CHUNK_SIZE,
    STACKERDB_MAX_CHUNK_SIZE,
};

/// Largest RPC reply read (a chunk is at most 16 MiB; a slot listing is far smaller).
const MAX_REPLY_LEN: u64 = STACKERDB_MAX_CHUNK_SIZE as u64 + 1024 * 1024;

/// A client of one StackerDB.
pub trait SignerSession {
    /// Points the session at `host` (`ip:port`) and `contract`, checking the host is
    /// reachable.
    fn connect(
        &mut self,
        host: String,
        stackerdb_contract_id: QualifiedContractIdentifier,
    ) -> Result<(), RPCError>;

    /// The metadata of every slot.
    fn list_chunks(&mut self) -> Result<Vec<SlotMetadata>, RPCError>;

    /// The chunks at `(slot_id, slot_version)`; `None` where the node has none (404).
    fn get_chunks(
        &mut self,
        slots_and_versions: &[(u32, u32)],
    ) -> Result<Vec<Option<Vec<u8>>>, RPCError>;

    /// The latest chunk of each slot; `None` where the node has none (404) or the chunk
    /// exceeds the contract's size limit.
    fn get_latest_chunks(&mut self, slot_ids: &[u32]) -> Result<Vec<Option<Vec<u8>>>, RPCError>;

    /// Uploads a signed chunk; the node's acknowledgement says whether it was accepted.
    fn put_chunk(&mut self, chunk: &StackerDBChunkData) -> Result<StackerDBChunkAckData, RPCError>;

    /// The chunk at `(slot_id, slot_version)`, if any.
    fn get_chunk(&mut self, slot_id: u32, slot_version: u32) -> Result<Option<Vec<u8>>, RPCError> {
        Ok(self
            .get_chunks(&[(slot_id, slot_version)])?
            .into_iter()
            .next()
            .flatten())
    }

    /// The latest chunk of `slot_id`, if any.
    fn get_latest_chunk(&mut self, slot_id: u32) -> Result<Option<Vec<u8>>, RPCError> {
        Ok(self
            .get_latest_chunks(&[slot_id])?
            .into_iter()
            .next()
            .flatten())
    }

    /// The latest chunk of `slot_id` decoded as `T`, if any.
    fn get_latest<T: StacksMessageCodec>(&mut self, slot_id: u32) -> Result<Option<T>, RPCError> {
        let Some(bytes) = self.get_latest_chunk(slot_id)? else {
            return Ok(None);
        };
        T::consensus_deserialize(&mut bytes.as_slice())
            .map(Some)
            .map_err(|e| {
                RPCError::Deserialize(format!(
                    "StacksMessageCodec::consensus_deserialize failure: {e}"
                ))
            })
    }
}

/// A [`SignerSession`] over HTTP (ureq), reusing connections where the node keeps them
/// open. Every call has connect, read and write timeouts of `socket_timeout`.
#[derive(Debug, Clone)]
pub struct StackerDBSession {
    /// The node's RPC address, `ip:port`.
    pub host: String,
    /// The StackerDB this session reads and writes.
    pub stackerdb_contract_id: QualifiedContractIdentifier,
    socket_timeout: Duration,
    agent: Agent,
}

impl StackerDBSession {
    /// A session with `contract` on the node at `host` (`ip:port`); nothing is dialled yet.
    pub fn new(
        host: &str,
        contract: QualifiedContractIdentifier,
        socket_timeout: Duration,
    ) -> Self {
        Self {
            host: host.to_string(),
            stackerdb_contract_id: contract,
            socket_timeout,
            agent: new_agent(socket_timeout),
        }
    }

    /// The size limit of this contract's chunks: 2 MiB for signer contracts, else 16 MiB.
    fn chunk_size_limit(&self) -> usize {
        if self
            .stackerdb_contract_id
            .name
            .as_str()
            .starts_with("signer")
        {
            SIGNERS_STACKERDB_CHUNK_SIZE
        } else {
            STACKERDB_MAX_CHUNK_SIZE as usize
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host)
    }

    fn get(&self, path: &str) -> Result<Response<Body>, RPCError> {
        let response = self.agent.get(self.url(path)).call().map_err(rpc_error)?;
        ok_status(response)
    }

    /// GETs a chunk; `None` on 404.
    fn get_chunk_at(&self, path: &str) -> Result<Option<Vec<u8>>, RPCError> {
        match self.get(path) {
            Ok(mut response) => read_reply(&mut response, MAX_REPLY_LEN).map(Some),
            Err(RPCError::HttpError(404)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The session's agent: connections are pooled (kept alive) and acknowledge answers at once,
/// so a node writing head and body separately costs no delayed-ACK stall.
fn new_agent(socket_timeout: Duration) -> Agent {
    let config = Agent::config_builder()
        .timeout_connect(Some(socket_timeout))
        .timeout_per_read(Some(socket_timeout))
        .timeout_per_write(Some(socket_timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .user_agent("libsigner/0.1")
        .build();
    crate::node_agent(config)
}

fn rpc_error(e: ureq::Error) -> RPCError {
    match e {
        ureq::Error::Io(e) => RPCError::IO(e),
        ureq::Error::Timeout(which) => RPCError::IO(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("timed out ({which})"),
        )),
        ureq::Error::StatusCode(code) => RPCError::HttpError(u32::from(code)),
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
            RPCError::IO(io::Error::new(io::ErrorKind::NotConnected, e.to_string()))
        }
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => RPCError::MalformedRequest(e.to_string()),
        other => RPCError::MalformedResponse(other.to_string()),
    }
}

fn ok_status(response: Response<Body>) -> Result<Response<Body>, RPCError> {
    let status = response.status().as_u16();
    if status == 200 {
        Ok(response)
    } else {
        Err(RPCError::HttpError(u32::from(status)))
    }
}

fn read_reply(response: &mut Response<Body>, limit: u64) -> Result<Vec<u8>, RPCError> {
    response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(rpc_error)
}

impl SignerSession for StackerDBSession {
    fn connect(
        &mut self,
        host: String,
        stackerdb_contract_id: QualifiedContractIdentifier,
    ) -> Result<(), RPCError> {
        self.host = host;
        self.stackerdb_contract_id = stackerdb_contract_id;
        self.agent = new_agent(self.socket_timeout);
        let addrs = self.host.to_socket_addrs()?;
        let mut last_error = io::Error::new(io::ErrorKind::NotFound, "host has no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.socket_timeout) {
                Ok(_) => return Ok(()),
                Err(e) => last_error = e,
            }
        }
        Err(RPCError::IO(last_error))
    }

    fn list_chunks(&mut self) -> Result<Vec<SlotMetadata>, RPCError> {
        let mut response = self.get(&stackerdb_get_metadata_path(&self.stackerdb_contract_id))?;
        let body = read_reply(&mut response, MAX_REPLY_LEN)?;
        crate::stackerdb::parse_slot_metadata_list(&body)
    }

    fn get_chunks(
        &mut self,
        slots_and_versions: &[(u32, u32)],
    ) -> Result<Vec<Option<Vec<u8>>>, RPCError> {
        slots_and_versions
            .iter()
            .map(|&(slot_id, version)| {
                self.get_chunk_at(&stackerdb_get_chunk_path(
                    &self.stackerdb_contract_id,
                    slot_id,
                    Some(version),
                ))
            })
            .collect()
    }

    fn get_latest_chunks(&mut self, slot_ids: &[u32]) -> Result<Vec<Option<Vec<u8>>>, RPCError> {
        let limit = self.chunk_size_limit();
        slot_ids
            .iter()
            .map(|&slot_id| {
                let path = stackerdb_get_chunk_path(&self.stackerdb_contract_id, slot_id, None);
                let mut response = match self.get(&path) {
                    Ok(response) => response,
                    Err(RPCError::HttpError(404)) => return Ok(None),
                    Err(e) => return Err(e),
                };
                // Over the limit, the chunk is treated as absent (as the reference).
                match response
                    .body_mut()
                    .with_config()
                    .limit(limit as u64)
                    .read_to_vec()
                {
                    Ok(chunk) => Ok(Some(chunk)),
                    Err(ureq::Error::BodyExceedsLimit(_)) => Ok(None),
                    Err(e) => Err(rpc_error(e)),
                }
            })
            .collect()
    }

    fn put_chunk(&mut self, chunk: &StackerDBChunkData) -> Result<StackerDBChunkAckData, RPCError> {
        let body =
            serde_json::to_vec(chunk).map_err(|e| RPCError::MalformedRequest(format!("{e:?}")))?;
        let path = stackerdb_post_chunk_path(&self.stackerdb_contract_id);
        let response = self
            .agent
            .post(self.url(&path))
            .header("Content-Type", "application/json")
            .send(&body[..])
            .map_err(rpc_error)?;
        let mut response = ok_status(response)?;
        let reply = read_reply(&mut response, MAX_REPLY_LEN)?;
        crate::stackerdb::parse_chunk_ack(&reply)
    }
}
