//! The steps of one rebuild: create the shadow tables, read the source in passes, then
//! catch up and swap under the fence.

use causeway_consumer::{Undecodable, decode_with};

use super::*;

impl<'a, P: Projection> Typed<'a, P> {
    pub(super) async fn start(run: Run<'a>, projection: P) -> Result<Self, RebuildError> {
        let options = run.settings.database.connect_options();
        let mut conn = PgConnection::connect_with(&options).await?;
        let shadow = Shadow::create(&mut conn, projection.name(), run.tables).await?;
        let _ = conn.close().await;
        // Rows whose ids follow the order of events (notifications) need one writer.
        let writers = if run.tables.contains(&"notifications") {
            1
        } else {
            run.options.writers
        };
        let writers = Writers::connect(&options, &shadow.search_path(), writers).await?;
        Ok(Self {
            run,
            projection,
            shadow,
            writers,
            started: Instant::now(),
            events: 0,
            skipped: 0,
            timings: Timings::default(),
        })
    }

    pub(super) async fn run(mut self) -> Result<RebuildReport, RebuildError> {
        let outcome = match self.run.options.source {
            Source::Store => self.rebuild_from_store().await,
            Source::Kafka => self.rebuild_from_kafka().await,
        };
        let writers = std::mem::replace(&mut self.writers, Writers::empty());
        writers.close().await;
        if outcome.is_err()
            && let Ok(mut conn) =
                PgConnection::connect_with(&self.run.settings.database.connect_options()).await
        {
            let _ = self.shadow.drop(&mut conn).await;
        }
        let (caught_up, offsets) = outcome?;
        let mut offsets: Vec<(String, i32, i64)> =
            offsets.into_iter().map(|((t, p), o)| (t, p, o)).collect();
        offsets.sort();
        Ok(RebuildReport {
            projection: self.projection.name().to_owned(),
            events: self.events,
            skipped: self.skipped,
            caught_up_under_fence: caught_up,
            seconds: self.started.elapsed().as_secs_f64(),
            offsets,
            timings: self.timings,
        })
    }

    fn aggregate_types(&self) -> Vec<String> {
        self.projection
            .streams()
            .into_iter()
            .map(|s| s.aggregate_type().to_owned())
            .collect()
    }

    /// Applies store pages after `after` until a page comes back short; answers how many.
    /// The next page is read while the writers apply the current one (one page ahead, so
    /// memory stays bounded by two pages).
    async fn drain_store(&mut self, after: &mut Position) -> Result<u64, RebuildError> {
        let types = self.aggregate_types();
        let limit = self.run.options.batch_size.max(1);
        let pool = self.run.pool.clone();
        let page = |after| timed(store::page(&pool, &types, after, limit));
        let mut applied = 0;
        let (mut rows, mut read) = page(*after).await;
        loop {
            let rows_now = rows?;
            self.timings.read_seconds += read;
            let Some(last) = rows_now.last() else { break };
            *after = last.position();
            let full = rows_now.len() == limit;
            let events = self.parse_rows(rows_now);
            if !full {
                applied += self.apply(events).await?;
                break;
            }
            let (next, done) = tokio::join!(page(*after), self.apply(events));
            applied += done?;
            (rows, read) = next;
        }
        Ok(applied)
    }

    /// Store rows as envelopes; rows that do not parse are skipped and counted.
    fn parse_rows(&mut self, rows: Vec<StoredEvent>) -> Vec<Envelope<P::Event>> {
        let parsing = Instant::now();
        let mut events = Vec::with_capacity(rows.len());
        for mut row in rows {
            let data = std::mem::take(&mut row.data);
            match self.projection.parse(&row.event_type, data) {
                Ok(event) => events.push(store::envelope(&row, event)),
                Err(reason) => self.skip(&row.aggregate_id, row.sequence, &reason),
            }
        }
        self.timings.decode_seconds += parsing.elapsed().as_secs_f64();
        events
    }

    async fn rebuild_from_store(
        &mut self,
    ) -> Result<(u64, HashMap<TopicPartition, i64>), RebuildError> {
        let total = store::count(self.run.pool, &self.aggregate_types()).await?;
        self.run
            .progress
            .phase("store", Some(u64::try_from(total).unwrap_or(0)));
        let mut after = Position::default();
        for _ in 0..MAX_PASSES {
            if self.drain_store(&mut after).await? < self.run.options.batch_size as u64 {
                break;
            }
        }
        self.indexes().await?;
        self.run.progress.phase("swap", None);
        let swapping = Instant::now();
        for _ in 0..self.run.options.swap_attempts {
            let mut conn = self.swap_connection().await?;
            let mut tx = conn.begin().await?;
            if !self.lock_out_live(&mut tx).await? {
                continue;
            }
            // Everything the relay has published (so everything the live worker applied)
            // is below the store's horizon now: the copies hold at least the live offsets.
            let caught_up = self.drain_store(&mut after).await?;
            let live = offsets_in(&mut tx, self.projection.name()).await?;
            if self.swapped(&mut tx).await? {
                tx.commit().await?;
                self.timings.swap_seconds = swapping.elapsed().as_secs_f64();
                return Ok((caught_up, live));
            }
        }
        Err(RebuildError::SwapGaveUp(self.run.options.swap_attempts))
    }

    async fn rebuild_from_kafka(
        &mut self,
    ) -> Result<(u64, HashMap<TopicPartition, i64>), RebuildError> {
        let topics = registry::list(self.run.settings)
            .into_iter()
            .find(|p| p.name == self.projection.name())
            .map(|p| p.topics)
            .unwrap_or_default();
        let group = registry::group_id(self.run.settings, self.projection.name());
        let mut source = KafkaSource::open(self.run.settings, &group, topics).await?;
        let marks = source.watermarks().await?;
        let estimate = marks.values().map(|(low, high)| high - low).sum::<i64>();
        self.run
            .progress
            .phase("kafka", Some(u64::try_from(estimate).unwrap_or(0)));
        for pass in 0..MAX_PASSES {
            let ends = if pass == 0 {
                marks.clone()
            } else {
                source.watermarks().await?
            };
            let applied = self.drain_kafka(&mut source, &Goal::End(ends)).await?;
            if applied < self.run.options.batch_size as u64 {
                break;
            }
        }
        self.indexes().await?;
        self.run.progress.phase("swap", None);
        let swapping = Instant::now();
        for _ in 0..self.run.options.swap_attempts {
            let mut conn = self.swap_connection().await?;
            let mut tx = conn.begin().await?;
            if !self.lock_out_live(&mut tx).await? {
                continue;
            }
            let live = offsets_in(&mut tx, self.projection.name()).await?;
            let caught_up = self
                .drain_kafka(&mut source, &Goal::Offsets(live.clone()))
                .await?;
            source.rewind_if_overshot()?;
            // Past the live offsets only when the live worker is behind the rebuild: it then
            // re-reads those events, which change nothing (ADR 0009).
            let next = kafka::furthest(&live, &source.next);
            if self.swapped(&mut tx).await? {
                offsets::store(&mut tx, self.projection.name(), &next).await?;
                tx.commit().await?;
                self.timings.swap_seconds = swapping.elapsed().as_secs_f64();
                return Ok((caught_up, next));
            }
        }
        Err(RebuildError::SwapGaveUp(self.run.options.swap_attempts))
    }

    /// Applies messages toward `goal`; answers how many events were applied.
    async fn drain_kafka(
        &mut self,
        source: &mut KafkaSource,
        goal: &Goal,
    ) -> Result<u64, RebuildError> {
        let mut applied = 0;
        loop {
            let (read_result, read) =
                timed(source.read(self.run.options.batch_size.max(1), goal)).await;
            let (messages, done) = read_result?;
            self.timings.read_seconds += read;
            let decoding = Instant::now();
            let mut events = Vec::with_capacity(messages.len());
            for message in &messages {
                match self.decode(message).await? {
                    Ok(envelope) => events.push(envelope),
                    Err(reason) => self.skip(
                        &String::from_utf8_lossy(message.key().unwrap_or_default()),
                        message.offset(),
                        &reason,
                    ),
                }
            }
            self.timings.decode_seconds += decoding.elapsed().as_secs_f64();
            applied += self.apply(events).await?;
            if done {
                return Ok(applied);
            }
        }
    }

    /// A message as the live worker would decode it; `Ok(Err)` for poison. A registry that
    /// cannot answer is retried 5 times, a second apart.
    async fn decode(
        &self,
        message: &OwnedMessage,
    ) -> Result<Result<Envelope<P::Event>, String>, RebuildError> {
        let mut attempts = 0;
        loop {
            let decoded = decode_with(self.run.codec, message, |event_type, data| {
                self.projection.parse(event_type, data)
            });
            match decoded.await {
                Ok(envelope) => return Ok(Ok(envelope)),
                Err(Undecodable::Poison(reason)) => return Ok(Err(reason)),
                Err(Undecodable::Transient(error)) if attempts >= 5 => {
                    return Err(ProjectionError::Registry(error.to_string()).into());
                }
                Err(Undecodable::Transient(_)) => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn apply(&mut self, events: Vec<Envelope<P::Event>>) -> Result<u64, RebuildError> {
        let count = events.len() as u64;
        if count > 0 {
            let applying = Instant::now();
            self.writers.apply(&self.projection, events).await?;
            self.timings.apply_seconds += applying.elapsed().as_secs_f64();
            self.events += count;
            self.run.progress.advance(count);
        }
        Ok(count)
    }

    fn skip(&mut self, aggregate_id: &str, at: i64, reason: &str) {
        self.skipped += 1;
        tracing::warn!(
            projection = self.projection.name(),
            aggregate_id,
            at,
            reason,
            "rebuild skipped an event that does not decode"
        );
    }

    async fn indexes(&mut self) -> Result<(), RebuildError> {
        self.run.progress.phase("indexes", None);
        let indexing = Instant::now();
        let mut conn =
            PgConnection::connect_with(&self.run.settings.database.connect_options()).await?;
        self.shadow.create_indexes(&mut conn).await?;
        let _ = conn.close().await;
        self.timings.index_seconds = indexing.elapsed().as_secs_f64();
        Ok(())
    }

    async fn swap_connection(&self) -> Result<PgConnection, RebuildError> {
        Ok(PgConnection::connect_with(&self.run.settings.database.connect_options()).await?)
    }

    /// Swaps the shadow tables in, inside the caller's transaction; `false` when the live
    /// tables stayed locked longer than the lock timeout (the caller tries again).
    async fn swapped(&self, conn: &mut PgConnection) -> Result<bool, RebuildError> {
        match self.shadow.swap(conn).await {
            Ok(()) => Ok(true),
            Err(error) if is_lock_timeout(&error) => {
                tracing::warn!(
                    projection = self.projection.name(),
                    "swap waited too long for the live tables; retrying"
                );
                Ok(false)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Waits for the live worker's batch in flight, and holds the next one back; `false`
    /// when that took longer than the lock timeout (the caller tries again).
    async fn lock_out_live(&self, conn: &mut PgConnection) -> Result<bool, RebuildError> {
        let timeout = self.run.options.lock_timeout.as_millis();
        conn.execute(format!("SET LOCAL lock_timeout = {timeout}").as_str())
            .await?;
        match fence_exclusive(conn, self.projection.name()).await {
            Ok(()) => Ok(true),
            Err(error) if is_lock_timeout(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }
}

/// The live offsets of `projection`, read inside the caller's transaction.
async fn offsets_in(
    conn: &mut PgConnection,
    projection: &str,
) -> Result<HashMap<TopicPartition, i64>, sqlx::Error> {
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = $1",
    )
    .bind(projection)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(t, p, o)| ((t, p), o)).collect())
}

/// SQLSTATE 55P03: `lock_timeout` fired.
fn is_lock_timeout(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "55P03")
}

/// Runs `future`, answering its output and how long it took, in seconds.
async fn timed<T>(future: impl std::future::Future<Output = T>) -> (T, f64) {
    let started = Instant::now();
    let output = future.await;
    (output, started.elapsed().as_secs_f64())
}
