#![doc = include_str!("../README.md")]

mod api;
mod cardbag;
mod component;
mod config;
mod control;
mod errors;
mod events;
mod faults;
mod form;
mod ids;
mod model;
mod push;
mod request;
mod restore;
mod routes;
mod sim;

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};

pub use api::members::ExtraData;
pub use config::{SimConfig, XmlStyle};
pub use errors::SimError;
pub use events::{PushAttempt, PushOutcome, PushRecord};
pub use faults::{FaultKind, FaultRule, FaultSpec};
pub use model::{
    Account, AccountPatch, AccountSpec, Answers, Card, CardStatus, CodeStatus, FieldAnswer,
    IssuedCode, MessageMode, MiniProgram, MiniProgramSpec, TestWhitelist, Ticket,
};
pub use sim::{ActionOutcome, MintedLoginCode, Simulator};

/// Largest request body accepted (uploads are capped at 1 MB by WeChat's own rule, answered 40009).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Registers the simulator's routes on `cfg` with relative paths: mount it at the root or inside a
/// scope (`web::scope("/sim").configure(|c| configure(c, sim.clone()))`).
pub fn configure(cfg: &mut web::ServiceConfig, sim: Simulator) {
    cfg.app_data(web::Data::new(sim))
        .app_data(web::PayloadConfig::new(MAX_BODY));
    routes::register(cfg);
    component::register(cfg);
    cardbag::register(cfg);
    control::register(cfg);
}

impl Simulator {
    /// An actix scope at `path` (e.g. `"/sim"`) serving this simulator.
    pub fn scope(&self, path: &str) -> actix_web::Scope {
        let sim = self.clone();
        web::scope(path).configure(move |c| configure(c, sim))
    }
}

/// A simulator served on a loopback port by [`spawn`].
#[derive(Debug, Clone)]
pub struct SpawnedSimulator {
    /// The bound address.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, with no trailing slash; WeChat paths go right below it.
    pub base_url: String,
    /// Stops the server.
    pub handle: ServerHandle,
    /// The simulator being served, for direct access from tests.
    pub sim: Simulator,
}

/// Serves `sim` on `127.0.0.1:0` from inside the current Tokio runtime (one worker) and returns
/// at once. Stop it with `handle.stop(true).await` or let the runtime end.
pub async fn spawn(sim: Simulator) -> std::io::Result<SpawnedSimulator> {
    let served = sim.clone();
    let server = HttpServer::new(move || {
        let sim = served.clone();
        App::new().configure(move |c| configure(c, sim))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("the server bound no address"))?;
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(SpawnedSimulator {
        addr,
        base_url: format!("http://{addr}"),
        handle,
        sim,
    })
}
