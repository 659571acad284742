//! What the Defenders page's charts draw: once a minute, how many defenders of each family are
//! connected and how many events each family's defenders sent in that minute, kept 25 hours; and
//! the last 24 hours of it shaped into a few series (the biggest families and the rest together).

use crate::clock::{now_ms, UnixMs};
use crate::error::{Context, Result};
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::time::Duration;

const MINUTE_MS: i64 = 60_000;
/// How long samples are kept (the charts show the last 24 hours).
const KEPT_MS: i64 = 25 * 3600 * 1000;
/// The families drawn one by one; the others are summed as one series.
pub const FAMILIES_DRAWN: usize = 5;
const FAMILIES_DRAWN_SQL: i64 = FAMILIES_DRAWN as i64;

/// Records the minute that started at `minute`: defenders connected now, by family, and the events
/// stored since the last sample (defender_events ids above `events_after`; ids only grow). Answers
/// the highest event id counted, for the next sample. Forgets samples older than 25 hours.
pub async fn sample(db: &SqlitePool, minute: UnixMs, events_after: i64) -> Result<i64> {
    // Counted in a read (WAL: it never holds up the defenders' writer, ~150 ms at 50,000
    // defenders' minute of events), then written in a transaction of a few rows.
    let newest = newest_event(db).await?;
    // Only ids in (after, newest]: an event is never counted twice, however trims ran.
    let counts = sqlx::query!(
        r#"SELECT family AS "family!: String", SUM(connected) AS "connected!: i64", SUM(events) AS "events!: i64" FROM (
               SELECT family, COUNT(*) AS connected, 0 AS events FROM defenders
                   WHERE disconnected_at IS NULL GROUP BY family
               UNION ALL
               SELECT d.family, 0, COUNT(*) FROM defender_events e JOIN defenders d ON d.id = e.defender_id
                   WHERE e.id > ?1 AND e.id <= ?2 GROUP BY d.family
           ) GROUP BY family"#,
        events_after,
        newest
    )
    .fetch_all(db)
    .await
    .context("counting the defenders' minute")?;
    let rows: Vec<serde_json::Value> = counts
        .into_iter()
        .map(|row| serde_json::json!([row.family, row.connected, row.events]))
        .collect();
    let rows = serde_json::Value::Array(rows).to_string();
    // In the writers' turn like every other write: SQLite's busy wait is not fair, so a write
    // outside the turn could wait behind a flood of defender batches, or hold them up.
    let _turn = crate::db::write_turn().await;
    let mut transaction = crate::db::begin_write(db, "recording the defenders' minute").await?;
    sqlx::query!(
        r#"INSERT OR REPLACE INTO defender_minutes (minute, family, connected, events)
           SELECT ?1, value ->> 0, value ->> 1, value ->> 2 FROM json_each(?2)"#,
        minute,
        rows
    )
    .execute(&mut *transaction)
    .await
    .context("recording the defenders' minute")?;
    let forget_before = minute - KEPT_MS;
    sqlx::query!(
        "DELETE FROM defender_minutes WHERE minute < ?",
        forget_before
    )
    .execute(&mut *transaction)
    .await
    .context("recording the defenders' minute")?;
    transaction
        .commit()
        .await
        .context("recording the defenders' minute")?;
    Ok(newest.max(events_after))
}

/// The id of the newest stored event (0 when there is none): ids only grow, so the events after
/// it are the ones not counted yet.
async fn newest_event(db: &SqlitePool) -> Result<i64> {
    sqlx::query_scalar!(r#"SELECT COALESCE(MAX(id), 0) AS "id!: i64" FROM defender_events"#)
        .fetch_one(db)
        .await
        .context("counting the defenders' minute")
}

/// Samples every minute, at the minute's end, until the task is dropped. Events stored before the
/// console started are not counted (the first minute counts from the start).
pub async fn sample_forever(db: SqlitePool) {
    let mut events_after = match newest_event(&db).await {
        Ok(id) => id,
        Err(error) => {
            tracing::warn!(%error, "the charts count events from the first sample");
            0
        }
    };
    loop {
        let now = now_ms();
        let next = (now / MINUTE_MS + 1) * MINUTE_MS;
        tokio::time::sleep(Duration::from_millis((next - now) as u64)).await;
        match sample(&db, next - MINUTE_MS, events_after).await {
            Ok(counted) => events_after = counted,
            // Those events are counted in the next minute instead.
            Err(error) => error.log("recording the defenders' minute"),
        }
    }
}

/// What the charts show: the last 24 hours in 5-minute buckets.
pub const CHART_SPAN: Duration = Duration::from_secs(24 * 3600);
pub const CHART_BUCKETS: usize = 288;
/// How long a computed chart is served again (the samples change once a minute).
const CHART_FRESH_MS: i64 = 15_000;

/// The charts' last answer, so many open pages cost one computation, not one each.
#[derive(Default)]
pub struct ChartCache(tokio::sync::Mutex<Option<(UnixMs, History)>>);

impl ChartCache {
    /// The last [`CHART_SPAN`] in [`CHART_BUCKETS`], computed again at most every 15 s (one
    /// caller computes while the others wait for its answer).
    pub async fn last_day(&self, db: &SqlitePool) -> Result<History> {
        let mut cached = self.0.lock().await;
        let now = now_ms();
        if let Some((at, history)) = &*cached {
            if now - *at < CHART_FRESH_MS && now / MINUTE_MS == *at / MINUTE_MS {
                return Ok(history.clone());
            }
        }
        let history = recent(db, CHART_SPAN, CHART_BUCKETS).await?;
        *cached = Some((now, history.clone()));
        Ok(history)
    }
}

/// One family's connected defenders, one number per bucket (the most seen in it).
#[derive(Clone, Debug, PartialEq)]
pub struct FamilySeries {
    /// `None` for the families not drawn one by one, summed.
    pub family: Option<String>,
    pub connected: Vec<i64>,
}

/// The last `span` in `buckets` equal buckets, ending where the current minute starts.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// Unix milliseconds of the first bucket's start.
    pub start_ms: UnixMs,
    pub bucket_ms: i64,
    /// The biggest families first (by the most connected at once), then the others summed.
    pub families: Vec<FamilySeries>,
    /// Events per minute, averaged over each bucket.
    pub events_per_minute: Vec<f64>,
}

/// The last `span` (whole minutes) as `buckets` buckets.
pub async fn recent(db: &SqlitePool, span: Duration, buckets: usize) -> Result<History> {
    let span_minutes = (span.as_secs() / 60).max(1) as i64;
    let buckets = buckets.clamp(1, span_minutes as usize);
    // Up to the current minute's start: every minute drawn has been sampled (a minute is sampled
    // at its end), so the last bucket is not an unfinished one drawn short.
    let end = now_ms() / MINUTE_MS * MINUTE_MS;
    let start = end - span_minutes * MINUTE_MS;
    // SQLite sums the families not drawn one by one per minute, so what comes back is at most
    // six rows a minute however many families there are (400 families over 24 hours are 576,000
    // samples).
    let rows = sqlx::query!(
        r#"WITH drawn AS (
               SELECT family FROM defender_minutes WHERE minute >= ?1 AND minute < ?2
               GROUP BY family ORDER BY MAX(connected) DESC, family LIMIT ?3)
           SELECT minute AS "minute!: i64",
                  CASE WHEN family IN (SELECT family FROM drawn) THEN family END AS "family?: String",
                  SUM(connected) AS "connected!: i64", SUM(events) AS "events!: i64"
           FROM defender_minutes WHERE minute >= ?1 AND minute < ?2
           GROUP BY 1, 2"#,
        start,
        end,
        FAMILIES_DRAWN_SQL
    )
    .fetch_all(db)
    .await
    .context("reading the defenders' history")?;
    Ok(shape(
        start,
        span_minutes,
        buckets,
        rows.into_iter()
            .map(|row| (row.minute, row.family, row.connected, row.events)),
    ))
}

/// Buckets the samples `(minute, family, connected, events)` of the `span_minutes` from `start`;
/// a family of `None` is other families already summed.
fn shape(
    start: UnixMs,
    span_minutes: i64,
    buckets: usize,
    samples: impl Iterator<Item = (UnixMs, Option<String>, i64, i64)>,
) -> History {
    let span = Buckets {
        start,
        bucket_ms: span_minutes * MINUTE_MS / buckets as i64,
        count: buckets,
    };
    let (per_minute, events) = per_minute(&span, samples);
    let (ranked, summed_others) = ranked_families(&per_minute);
    let drawn: Vec<&str> = ranked
        .iter()
        .take(FAMILIES_DRAWN)
        .map(|(family, _)| *family)
        .collect();
    let minutes = others_summed_per_minute(&per_minute, &drawn);
    let others = summed_others || ranked.len() > drawn.len();
    let series = connected_series(&span, &drawn, others, minutes);
    let minutes_per_bucket = span.bucket_ms as f64 / MINUTE_MS as f64;
    History {
        start_ms: start,
        bucket_ms: span.bucket_ms,
        families: series,
        events_per_minute: events
            .into_iter()
            .map(|count| count as f64 / minutes_per_bucket)
            .collect(),
    }
}

/// `count` buckets of `bucket_ms` from `start`.
struct Buckets {
    start: UnixMs,
    bucket_ms: i64,
    count: usize,
}

impl Buckets {
    /// The bucket `minute` falls in, if any.
    fn of(&self, minute: UnixMs) -> Option<usize> {
        usize::try_from((minute - self.start) / self.bucket_ms)
            .ok()
            .filter(|bucket| *bucket < self.count)
    }
}

/// Per minute and family (`None`: other families already summed), the connected count.
type PerMinute = HashMap<(UnixMs, Option<String>), i64>;

/// Per minute and family, the connected count (the others summed into one later); and the events
/// of each bucket. Samples outside the buckets are left out.
fn per_minute(
    span: &Buckets,
    samples: impl Iterator<Item = (UnixMs, Option<String>, i64, i64)>,
) -> (PerMinute, Vec<i64>) {
    let mut per_minute: PerMinute = HashMap::new();
    let mut events = vec![0i64; span.count];
    for (minute, family, connected, count) in samples {
        let Some(bucket) = span.of(minute) else {
            continue;
        };
        events[bucket] += count;
        per_minute.insert((minute, family), connected);
    }
    (per_minute, events)
}

/// The families by the most connected at once, the biggest first (then by name); and whether the
/// samples held other families already summed.
fn ranked_families(per_minute: &PerMinute) -> (Vec<(&str, i64)>, bool) {
    let mut peak: HashMap<&str, i64> = HashMap::new();
    let mut summed_others = false;
    for ((_, family), connected) in per_minute {
        let Some(family) = family else {
            summed_others = true;
            continue;
        };
        let top = peak.entry(family.as_str()).or_default();
        *top = (*top).max(*connected);
    }
    let mut ranked: Vec<(&str, i64)> = peak.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    (ranked, summed_others)
}

/// The connected count per minute of each family `drawn`, and of the others under `None`.
fn others_summed_per_minute<'a>(
    per_minute: &PerMinute,
    drawn: &[&'a str],
) -> HashMap<(UnixMs, Option<&'a str>), i64> {
    // The others are summed per minute first, so their bucket shows the most at once.
    let mut minutes: HashMap<(UnixMs, Option<&str>), i64> = HashMap::new();
    for ((minute, family), connected) in per_minute {
        let key = family
            .as_deref()
            .and_then(|family| drawn.iter().find(|name| **name == family).copied());
        *minutes.entry((*minute, key)).or_default() += connected;
    }
    minutes
}

/// One series per family `drawn`, then the others' when there are `others`: each bucket the most
/// connected in any of its minutes.
fn connected_series(
    span: &Buckets,
    drawn: &[&str],
    others: bool,
    minutes: HashMap<(UnixMs, Option<&str>), i64>,
) -> Vec<FamilySeries> {
    let mut series: Vec<FamilySeries> = drawn
        .iter()
        .map(|family| FamilySeries {
            family: Some((*family).to_owned()),
            connected: vec![0; span.count],
        })
        .collect();
    if others {
        series.push(FamilySeries {
            family: None,
            connected: vec![0; span.count],
        });
    }
    for ((minute, key), connected) in minutes {
        let Some(bucket) = span.of(minute) else {
            continue;
        };
        let index = match key {
            Some(family) => drawn.iter().position(|name| *name == family),
            None => others.then_some(drawn.len()),
        };
        if let Some(index) = index {
            let cell = &mut series[index].connected[bucket];
            *cell = (*cell).max(connected);
        }
    }
    series
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_row(
        minute: i64,
        family: &str,
        connected: i64,
        events: i64,
    ) -> (i64, Option<String>, i64, i64) {
        (
            minute * MINUTE_MS,
            Some(family.to_owned()),
            connected,
            events,
        )
    }

    /// The series' names in order (`None`: the others).
    fn drawn(history: &History) -> Vec<Option<&str>> {
        history
            .families
            .iter()
            .map(|series| series.family.as_deref())
            .collect()
    }

    #[test]
    fn buckets_keep_the_most_connected_and_average_events_per_minute() {
        let samples = vec![
            sample_row(0, "api", 3, 30),
            sample_row(1, "api", 5, 10),
            sample_row(2, "api", 4, 0),
            sample_row(3, "web", 2, 20),
            // Outside the span: ignored.
            sample_row(9, "api", 100, 100),
        ];
        let history = shape(0, 6, 2, samples.into_iter());
        assert_eq!(history.bucket_ms, 3 * MINUTE_MS);
        assert_eq!(
            history.families,
            vec![
                FamilySeries {
                    family: Some("api".into()),
                    connected: vec![5, 0]
                },
                FamilySeries {
                    family: Some("web".into()),
                    connected: vec![0, 2]
                },
            ]
        );
        assert_eq!(history.events_per_minute, vec![40.0 / 3.0, 20.0 / 3.0]);
    }

    #[test]
    fn families_past_the_drawn_ones_are_summed_per_minute() {
        let mut samples = Vec::new();
        for (n, family) in ["a", "b", "c", "d", "e", "f", "g"].iter().enumerate() {
            // a is the biggest, g the smallest: f and g are the others.
            samples.push(sample_row(0, family, 10 - n as i64, 0));
            samples.push(sample_row(1, family, 10 - n as i64, 0));
        }
        let history = shape(0, 2, 1, samples.into_iter());
        assert_eq!(
            drawn(&history),
            vec![Some("a"), Some("b"), Some("c"), Some("d"), Some("e"), None]
        );
        // f (5) and g (4) were connected at the same minutes: 9 at once, not 5.
        assert_eq!(history.families[5].connected, vec![9]);
    }

    #[tokio::test]
    async fn the_database_sums_the_families_not_drawn_per_minute() {
        let (_dir, db) = crate::testing::database().await;
        let last_minute = now_ms() / MINUTE_MS * MINUTE_MS - MINUTE_MS;
        for (n, family) in ["a", "b", "c", "d", "e", "f", "g"].iter().enumerate() {
            for minute in [last_minute - MINUTE_MS, last_minute] {
                sqlx::query("INSERT INTO defender_minutes VALUES (?, ?, ?, ?)")
                    .bind(minute)
                    .bind(family)
                    .bind(10 - n as i64)
                    .bind(1)
                    .execute(&db)
                    .await
                    .unwrap();
            }
        }
        // Two minutes in two buckets of one minute.
        let history = recent(&db, Duration::from_secs(120), 2).await.unwrap();
        assert_eq!(
            drawn(&history),
            vec![Some("a"), Some("b"), Some("c"), Some("d"), Some("e"), None]
        );
        assert_eq!(history.families[0].connected, vec![10, 10]);
        assert_eq!(history.families[5].connected, vec![9, 9], "f (5) + g (4)");
        assert_eq!(history.events_per_minute, vec![7.0, 7.0]);
    }

    #[tokio::test]
    async fn a_sample_counts_connected_defenders_and_new_events_once() {
        let (_dir, db) = crate::testing::database().await;
        for (n, (family, disconnected)) in [
            ("api", None),
            ("api", None),
            ("api", Some(1)),
            ("web", None),
        ]
        .into_iter()
        .enumerate()
        {
            sqlx::query(
                "INSERT INTO defenders (task_arn, cluster, family, revision, availability_zone, launch_type, containers, version, mode, instance, connection, first_seen, connected_since, last_seen, disconnected_at)
                 VALUES (?, 'c', ?, '1', '', '', '[]', '', '', 'i', 'c', 0, 0, 0, ?)",
            )
            .bind(format!("arn:task/{n}"))
            .bind(family)
            .bind(disconnected)
            .execute(&db)
            .await
            .unwrap();
        }
        let add_events = |defender: i64, count: i64| {
            let db = db.clone();
            async move {
                for seq in 0..count {
                    sqlx::query("INSERT INTO defender_events (defender_id, instance, seq, at, kind, detail) VALUES (?, 'i', ?, 0, 'process_exited', '{}')")
                        .bind(defender)
                        .bind(seq + 1000 * defender)
                        .execute(&db)
                        .await
                        .unwrap();
                }
            }
        };
        add_events(1, 3).await;
        add_events(4, 2).await;
        let counted = sample(&db, 60_000, 0).await.unwrap();
        add_events(2, 1).await;
        sample(&db, 120_000, counted).await.unwrap();
        let rows: Vec<(i64, String, i64, i64)> =
            sqlx::query_as("SELECT minute, family, connected, events FROM defender_minutes ORDER BY minute, family")
                .fetch_all(&db)
                .await
                .unwrap();
        assert_eq!(
            rows,
            vec![
                (60_000, "api".into(), 2, 3),
                (60_000, "web".into(), 1, 2),
                (120_000, "api".into(), 2, 1),
                (120_000, "web".into(), 1, 0),
            ]
        );
        // 25 hours later the first minutes are forgotten.
        sample(&db, 60_000 + KEPT_MS + 60_000, counted)
            .await
            .unwrap();
        let oldest: i64 = sqlx::query_scalar("SELECT MIN(minute) FROM defender_minutes")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(oldest, 120_000);
    }
}
