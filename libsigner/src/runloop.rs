//! Running a signer: its event receiver and its run loop, each on its own thread.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::error::EventError;
use crate::events::{EventReceiver, EventStopSignaler, SignerEvent, SignerEventTrait};

/// Stack size of the signer's threads (the run loop may hold deep data structures).
const THREAD_STACK_SIZE: usize = 128 * 1024 * 1024;

/// The logic of a signer: called once per event (or per timeout), until it produces a result.
pub trait SignerRunLoop<R: Send, T: SignerEventTrait> {
    /// Sets how long [`SignerRunLoop::main_loop`] waits for an event before calling
    /// [`SignerRunLoop::run_one_pass`] with `None`.
    fn set_event_timeout(&mut self, timeout: Duration);

    /// How long to wait for an event before a pass without one.
    fn get_event_timeout(&self) -> Duration;

    /// Handles one event (or a timeout, as `None`); intermediate results may be sent on
    /// `res`. Returning `Some` ends the signer with that result.
    fn run_one_pass(&mut self, event: Option<SignerEvent<T>>, res: &Sender<R>) -> Option<R>;

    /// Feeds events to [`SignerRunLoop::run_one_pass`] until it returns a result (then the
    /// event receiver is stopped and the result returned) or the receiver hangs up (`None`).
    fn main_loop<EVST: EventStopSignaler>(
        &mut self,
        event_recv: Receiver<SignerEvent<T>>,
        result_send: Sender<R>,
        mut event_stop_signaler: EVST,
    ) -> Option<R> {
        loop {
            let event = match event_recv.recv_timeout(self.get_event_timeout()) {
                Ok(event) => Some(event),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return None,
            };
            if let Some(result) = self.run_one_pass(event, &result_send) {
                event_stop_signaler.send();
                return Some(result);
            }
        }
    }
}

/// A signer not yet started: a run loop, an event receiver and where results go.
pub struct Signer<R, SL, EV, T> {
    signer_loop: Option<SL>,
    event_receiver: Option<EV>,
    result_sender: Option<Sender<R>>,
    phantom: PhantomData<T>,
}

/// A started signer: stop it, or wait for it to finish.
pub struct RunningSigner<EV: EventReceiver<T>, R, T: SignerEventTrait> {
    local_addr: SocketAddr,
    stop_signal: EV::ST,
    event_join: JoinHandle<()>,
    runloop_join: JoinHandle<Option<R>>,
}

impl<R: Send + 'static, SL, EV, T> Signer<R, SL, EV, T>
where
    T: SignerEventTrait + 'static,
    SL: SignerRunLoop<R, T> + Send + 'static,
    EV: EventReceiver<T> + Send + 'static,
{
    /// A signer that will run `runloop` on the events of `event_receiver`, sending results
    /// to `result_sender`.
    pub fn new(runloop: SL, event_receiver: EV, result_sender: Sender<R>) -> Self {
        Self {
            signer_loop: Some(runloop),
            event_receiver: Some(event_receiver),
            result_sender: Some(result_sender),
            phantom: PhantomData,
        }
    }

    /// Binds the event receiver to `bind_addr` and starts the threads
    /// `event_receiver:{port}` and `signer_runloop:{port}`. A signer can be spawned once;
    /// again gives [`EventError::AlreadyRunning`].
    pub fn spawn(&mut self, bind_addr: SocketAddr) -> Result<RunningSigner<EV, R, T>, EventError> {
        let (Some(mut event_receiver), Some(result_sender), Some(mut signer_loop)) = (
            self.event_receiver.take(),
            self.result_sender.take(),
            self.signer_loop.take(),
        ) else {
            return Err(EventError::AlreadyRunning);
        };
        let (event_send, event_recv) = channel();
        event_receiver.add_consumer(event_send);
        let bound = event_receiver.bind(bind_addr)?;
        let runloop_stop = event_receiver.get_stop_signaler()?;
        let mut handle_stop = event_receiver.get_stop_signaler()?;

        let event_join = thread::Builder::new()
            .name(format!("event_receiver:{}", bound.port()))
            .stack_size(THREAD_STACK_SIZE)
            .spawn(move || event_receiver.main_loop())
            .map_err(|_| EventError::FailedToStart)?;
        let runloop_join = thread::Builder::new()
            .name(format!("signer_runloop:{}", bound.port()))
            .stack_size(THREAD_STACK_SIZE)
            .spawn(move || signer_loop.main_loop(event_recv, result_sender, runloop_stop));
        let runloop_join = match runloop_join {
            Ok(handle) => handle,
            Err(_) => {
                handle_stop.send();
                return Err(EventError::FailedToStart);
            }
        };
        Ok(RunningSigner {
            local_addr: bound,
            stop_signal: handle_stop,
            event_join,
            runloop_join,
        })
    }
}

impl<EV: EventReceiver<T>, R, T: SignerEventTrait> RunningSigner<EV, R, T> {
    /// The address the event receiver is bound to (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the event receiver, then waits for both threads; the run loop's result, if any.
    pub fn stop(mut self) -> Option<R> {
        self.stop_signal.send();
        self.join()
    }

    /// Waits for both threads to finish; the run loop's result (`None` if it panicked or
    /// ended without one).
    pub fn join(self) -> Option<R> {
        if self.event_join.join().is_err() {
            eprintln!("libsigner: the event receiver thread panicked");
        }
        match self.runloop_join.join() {
            Ok(result) => result,
            Err(_) => {
                eprintln!("libsigner: the signer run loop thread panicked");
                None
            }
        }
    }

    /// A copy of the handle that stops the event receiver (for a signal handler).
    pub fn stop_signaler(&self) -> EV::ST
    where
        EV::ST: Clone,
    {
        self.stop_signal.clone()
    }
}

/// Makes SIGINT, SIGTERM and SIGHUP stop the signer gracefully through `stop_signaler`.
/// A process can install one handler; a second call fails with [`EventError::AlreadyRunning`].
pub fn set_runloop_signal_handler<ST: EventStopSignaler + Send + 'static>(
    stop_signaler: ST,
) -> Result<(), EventError> {
    let stop_signaler = Arc::new(Mutex::new(stop_signaler));
    ctrlc::set_handler(move || {
        eprintln!("Graceful termination request received, stopping the signer...");
        match stop_signaler.lock() {
            Ok(mut signaler) => signaler.send(),
            Err(poisoned) => poisoned.into_inner().send(),
        }
    })
    .map_err(|e| match e {
        ctrlc::Error::MultipleHandlers => EventError::AlreadyRunning,
        other => EventError::IO(std::io::Error::other(other)),
    })
}
