//! The five projections of the read-model tests, each a worker in the test process.

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use std::time::Duration;

use causeway_infra::Settings;
use causeway_projections::{
    CustomersProjection, NotificationsProjection, OrdersProjection, PaymentsProjection, Projection,
    SagaTimelineProjection, WorkerConfig,
};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The five projections, each a worker in this process with its own stop channel.
pub struct Workers {
    stops: Vec<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts all five with `settings` on `pool`, 50 events a batch.
    pub fn start(settings: &Settings, pool: &PgPool) -> Self {
        let mut workers = Self {
            stops: Vec::new(),
            tasks: Vec::new(),
        };
        workers.add(settings, pool, OrdersProjection);
        workers.add(settings, pool, CustomersProjection);
        workers.add(settings, pool, PaymentsProjection);
        workers.add(settings, pool, NotificationsProjection);
        workers.add(settings, pool, SagaTimelineProjection);
        workers
    }

    /// Starts `projection` as a worker with its own stop channel.
    fn add<P: Projection>(&mut self, settings: &Settings, pool: &PgPool, projection: P) {
        let config = WorkerConfig {
            batch_size: 50,
            ..WorkerConfig::default()
        };
        let worker = crate::projection_worker(settings, pool, projection).with_config(config);
        let (stop, stopped) = watch::channel(false);
        self.tasks.push(tokio::spawn(worker.run(stopped)));
        self.stops.push(stop);
    }

    /// Tells every worker to stop and waits (30 s at most each) until it has.
    pub async fn stop(&mut self) {
        for stop in self.stops.drain(..) {
            stop.send(true).unwrap();
        }
        for task in self.tasks.drain(..) {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("the worker stops when told")
                .unwrap();
        }
    }
}
