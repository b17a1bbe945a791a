//! A mock Stacks node for running signers without bitcoind or a real node.
//!
//! It serves the node RPC endpoints a signer calls (with the node's JSON shapes, hex
//! conventions, status codes and error bodies), hosts the `miners` and `signers-{0,1}-*`
//! StackerDBs with the node's write rules, simulates a burn chain with sortitions, miners that
//! build and propose real Nakamoto blocks, a block validator, and (optionally) signers inside
//! the node, and delivers events to observers in order, retrying until acknowledged.
//!
//! ```no_run
//! use stacks_signer::devnet::{MockNode, MockNodeConfig, ObserverSpec};
//! use std::time::Duration;
//!
//! let mut config = MockNodeConfig::with_simulated_signers(3);
//! config.observers.push(ObserverSpec::signer("127.0.0.1:30000"));
//! let node = MockNode::start(config).unwrap();
//! println!("node_host = {}", node.node_host());
//! node.mine_tenures(2, 3, Duration::from_secs(30)).unwrap();
//! node.stop();
//! ```
//!
//! Layout: [`config`] (setup), [`pox`] (cycle math), [`burnchain`], [`stacks_chain`],
//! [`reward_sets`], [`stackerdb`] (state pieces), [`state`] (the whole state and its
//! operations), [`miner`], [`signers`], [`validator`], [`views`] (RPC answers), [`payloads`]
//! (event bodies), [`dispatcher`] (event delivery), `http` (the server), [`node`] (the
//! running node and its API), [`wire`] (block/tx/message encodings), [`activity`] (what
//! happened, for records), [`overrides`] and [`stimuli`] (what tests make the node answer
//! or write: substituted RPC answers, puppet signers' messages, injected chunks, miner
//! messages, blocks processed on demand), [`faults`] (RPC faults, a refusing RPC port, event
//! replay order), [`network`] (`stacks-signer devnet`: the node and
//! a network of real signer processes with faults, a summary and an equivocation check).

pub mod activity;
pub mod burnchain;
pub mod clarity_values;
pub mod config;
pub mod dispatcher;
pub mod entropy;
pub mod faults;
mod http;
pub mod miner;
pub mod network;
pub mod node;
pub mod overrides;
pub mod payloads;
pub mod pox;
pub mod record;
pub mod reward_sets;
pub mod scenario;
pub mod signers;
pub mod stackerdb;
pub mod stacks_chain;
pub mod state;
pub mod stimuli;
pub mod validator;
pub mod views;
pub mod wire;

pub use activity::{Activity, ActivityEntry, ChunkSource};
pub use burnchain::{BurnBlock, SortitionWinner};
pub use config::{MockNodeConfig, ObserverSpec, SignerSpec, MOCK_SERVER_VERSION};
pub use faults::{EventReplay, RpcFault};
pub use miner::{BlockKind, BlockOverrides, Proposal, ProposeOptions};
pub use node::{MockNode, RunningMockNode};
pub use overrides::{CannedAnswer, InfoOverride, RpcAnswer};
pub use pox::PoxConstants;
pub use state::{BurnBlockOptions, NodeState};
pub use validator::{ForcedRejection, ValidationAnswer};
