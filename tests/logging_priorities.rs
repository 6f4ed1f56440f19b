//! Log levels an operator can alert on (`journalctl -p err` = tracing's error): against the
//! simulator and the actor system, what needs a person (a dead letter, a discrepancy, refused
//! credentials, a shop unreachable past the threshold) is an error carrying the `store` field;
//! what heals itself (a short outage) is a warning; a recovery is told at info. An order changed
//! in the shop after import also needs a person (accept the shop's version or keep ours).
//!
//! A tracing layer written here records every event of this crate with its level, message and
//! fields (the fields of its spans included, as journald would write them). The subscriber is
//! global, so each test uses its own store name and looks only at that store's lines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actors_support::*;
use rust_decimal::Decimal;
use shoptet_sync::actors::SyncKind;
use shoptet_sync::actors::messages::{IntegrationUpdate, NewIntegrationSpec};
use shoptet_sync::domain::{Credentials, OutboxState, Secret};
use shoptet_sync::sim::{FaultConfig, ItemSpec, OrderEditSpec, OrderSpec};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const DEADLINE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Capture
// ---------------------------------------------------------------------------------------------

/// One recorded event.
#[derive(Debug, Clone)]
struct Line {
    level: Level,
    message: String,
    /// Span fields (outermost first), then the event's own fields.
    fields: BTreeMap<String, String>,
}

impl Line {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

struct Recorder {
    lines: Arc<Mutex<Vec<Line>>>,
}

impl<S> tracing_subscriber::Layer<S> for Recorder
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        metadata.target().starts_with("shoptet_sync")
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut all = BTreeMap::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<Fields>() {
                    all.extend(fields.0.clone());
                }
            }
        }
        let mut own = Fields::default();
        event.record(&mut own);
        all.extend(own.0);
        let message = all.remove("message").unwrap_or_default();
        self.lines.lock().unwrap().push(Line {
            level: *event.metadata().level(),
            message,
            fields: all,
        });
    }
}

/// The lines recorded so far (the recorder is installed on first use).
fn captured() -> Arc<Mutex<Vec<Line>>> {
    static LINES: OnceLock<Arc<Mutex<Vec<Line>>>> = OnceLock::new();
    LINES
        .get_or_init(|| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let subscriber = tracing_subscriber::registry().with(Recorder {
                lines: lines.clone(),
            });
            tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
            lines
        })
        .clone()
}

/// The recorded lines of `store`.
fn lines_of(store: &str) -> Vec<Line> {
    captured()
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.field("store") == Some(store))
        .cloned()
        .collect()
}

/// Waits for a line of `store` matching `check`.
async fn wait_line(store: &str, what: &str, check: impl Fn(&Line) -> bool) -> Line {
    wait_for(what, DEADLINE, || async {
        lines_of(store).into_iter().find(|l| check(l))
    })
    .await
}

fn errors_of(store: &str) -> Vec<Line> {
    lines_of(store)
        .into_iter()
        .filter(|l| l.level == Level::ERROR)
        .collect()
}

/// Every recorded line, fields included, as text (to look for secrets).
fn all_text() -> String {
    captured()
        .lock()
        .unwrap()
        .iter()
        .map(|l| format!("{} {:?}\n", l.message, l.fields))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[actix_rt::test]
async fn a_short_outage_logs_warnings_not_errors_and_its_recovery_at_info() {
    captured();
    let store = "short-outage";
    let sim = start_sim(small_shop()).await;
    let mut settings = fast_settings();
    // Far longer than this outage.
    settings.unreachable_alert_after = Duration::from_secs(600);
    let env = Env::start(settings);
    env.add_shop(store, &sim, "MAIN").await;
    let codes: Vec<String> = sim.stock_levels().keys().cloned().collect();
    wait_products(&env.daemon, store, codes.len()).await;
    wait_line(store, "a sync summary at info", |l| {
        l.level == Level::INFO && l.message.contains("sync finished")
    })
    .await;

    sim.set_maintenance(true);
    let warn = wait_line(store, "a failed sync logged as a warning", |l| {
        l.level == Level::WARN && l.message.contains("unable to connect to Shoptet API")
    })
    .await;
    assert!(warn.field("sync_type").is_some(), "{warn:?}");
    assert!(warn.field("error").is_some(), "{warn:?}");
    // The client's retries, inside the run's span, say which store and which request.
    let retry = wait_line(store, "a retried request logged", |l| {
        l.level == Level::WARN && l.message.contains("retrying")
    })
    .await;
    assert!(retry.field("request_id").is_some(), "{retry:?}");
    assert!(retry.field("sync_type").is_some(), "{retry:?}");
    // A few failed runs (with backoff), then the shop is back.
    wait_for("several failed runs", DEADLINE, || async {
        let failed = lines_of(store)
            .iter()
            .filter(|l| l.message.contains("unable to connect"))
            .count();
        (failed >= 3).then_some(())
    })
    .await;
    sim.set_maintenance(false);
    let recovered = wait_line(store, "the recovery at info", |l| {
        l.message.contains("reachable again")
    })
    .await;
    assert_eq!(recovered.level, Level::INFO);
    assert_eq!(recovered.field("alerted"), Some("false"));
    assert!(
        errors_of(store).is_empty(),
        "a short outage must not log errors: {:?}",
        errors_of(store)
    );
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn an_outage_past_the_threshold_logs_an_error_and_the_recovery_at_info() {
    captured();
    let store = "long-outage";
    let threshold = Duration::from_millis(300);
    let sim = start_sim(small_shop()).await;
    let mut settings = fast_settings();
    settings.unreachable_alert_after = threshold;
    let env = Env::start(settings);
    env.add_shop(store, &sim, "MAIN").await;
    let codes: Vec<String> = sim.stock_levels().keys().cloned().collect();
    wait_products(&env.daemon, store, codes.len()).await;

    sim.set_maintenance(true);
    let down_at = Instant::now();
    let alert = wait_line(store, "the unreachable alert", |l| {
        l.level == Level::ERROR && l.message.contains("cannot reach Shoptet")
    })
    .await;
    let down_for_ms: u64 = alert.field("down_for_s").unwrap().parse::<u64>().unwrap() * 1000;
    assert!(
        down_at.elapsed() >= threshold,
        "alerted after {:?}",
        down_at.elapsed()
    );
    assert!(down_for_ms <= down_at.elapsed().as_millis() as u64 + 1000);
    assert!(alert.message.contains(store), "{}", alert.message);
    assert!(alert.field("sync_type").is_some(), "{alert:?}");
    // The runs before the threshold were warnings.
    let first_failure = lines_of(store)
        .into_iter()
        .find(|l| l.message.contains("unable to connect"))
        .unwrap();
    assert_eq!(first_failure.level, Level::WARN);

    // It lasts a while longer: repeated at most once per threshold.
    tokio::time::sleep(threshold * 4).await;
    sim.set_maintenance(false);
    let outage = down_at.elapsed();
    let recovered = wait_line(store, "the recovery at info", |l| {
        l.message.contains("reachable again")
    })
    .await;
    assert_eq!(recovered.level, Level::INFO);
    assert_eq!(recovered.field("alerted"), Some("true"));
    let alerts = errors_of(store)
        .iter()
        .filter(|l| l.message.contains("cannot reach Shoptet"))
        .count();
    let most = (outage.as_millis() / threshold.as_millis()) as usize;
    assert!(
        (1..=most).contains(&alerts),
        "{alerts} alerts in an outage of {outage:?}"
    );
    // Every error of this store is that alert: the failed runs themselves are warnings.
    for line in errors_of(store) {
        assert!(line.message.contains("cannot reach Shoptet"), "{line:?}");
    }
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn a_refused_private_token_logs_an_error_naming_the_store_and_what_to_do() {
    captured();
    let store = "bad-token";
    let wrong = "wrong-private-token-9f3c1e";
    let sim = start_sim(small_shop()).await;
    let env = Env::start(fast_settings());
    env.add_shop(store, &sim, "MAIN").await;
    env.daemon
        .set_credentials(store, Credentials::PrivateToken(Secret::new(wrong)))
        .await
        .unwrap();
    // The next run meets a 401 (whether this one or a scheduled one gets there first).
    let _ = env.daemon.sync(store, SyncKind::Orders, true).await;
    let error = wait_line(store, "the refused credentials at error", |l| {
        l.level == Level::ERROR && l.message.contains("refused access")
    })
    .await;
    assert!(error.message.contains(store), "{}", error.message);
    assert!(
        error
            .message
            .contains(&format!("shoptetctl integration credentials {store}")),
        "{}",
        error.message
    );
    assert!(error.field("sync_type").is_some(), "{error:?}");
    let text = all_text();
    assert!(!text.contains(wrong), "the token leaked into the log");
    assert!(
        !text.contains(&sim.private_token()),
        "the token leaked into the log"
    );
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn a_suspended_addon_logs_an_error_with_the_store_field() {
    captured();
    let store = "suspended-addon";
    let sim = start_sim(small_shop()).await;
    let env = Env::start(fast_settings());
    let spec = NewIntegrationSpec {
        name: store.to_owned(),
        eshop_url: sim.eshop_url(),
        api_base_url: Some(sim.base_url()),
        credentials: Some(Credentials::AddonOAuth(Secret::new(sim.oauth_token()))),
        settings: IntegrationUpdate {
            default_warehouse_code: Some("MAIN".to_owned()),
            ..IntegrationUpdate::default()
        },
    };
    env.daemon.create_integration(spec).await.unwrap();
    env.daemon.activate(store).await.unwrap();
    sim.set_addon_suspended(true);
    sim.expire_access_tokens();
    let _ = env.daemon.sync(store, SyncKind::Orders, true).await;
    let error = wait_line(store, "the suspended addon at error", |l| {
        l.level == Level::ERROR && l.message.contains("addon is suspended")
    })
    .await;
    assert!(error.message.contains(store), "{}", error.message);
    assert!(!all_text().contains(&sim.oauth_token()), "the token leaked");
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn an_inventory_discrepancy_logs_an_error_with_the_store_and_code() {
    captured();
    let store = "discrepancy";
    let sim = start_sim(small_shop()).await;
    let mut settings = fast_settings();
    settings.discrepancy_every = 1;
    let env = Env::start(settings);
    env.add_shop(store, &sim, "MAIN").await;
    let codes = stock_all(&env.daemon, store, &sim, 9).await;
    let code = &codes[2];
    wait_real_stock(&sim, code, 9, DEADLINE).await;
    assert!(
        errors_of(store).is_empty(),
        "errors before the discrepancy: {:?}",
        errors_of(store)
    );

    // Someone edits the stock in the shop admin.
    sim.set_real_stock(code, Decimal::from(40)).unwrap();
    let error = wait_line(store, "the discrepancy at error", |l| {
        l.level == Level::ERROR && l.message.contains("discrepancy")
    })
    .await;
    assert_eq!(error.field("code"), Some(code.as_str()));
    let figure = |name: &str| -> Decimal { error.field(name).unwrap().parse().unwrap() };
    assert_eq!(figure("expected"), Decimal::from(9));
    assert_eq!(figure("found"), Decimal::from(40));
    assert_eq!(error.field("sync_type"), Some("inventory"));
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn a_dead_letter_logs_an_error_with_the_store_and_order_code() {
    captured();
    let store = "dead-letter";
    let sim = start_sim(small_shop()).await;
    let mut settings = fast_settings();
    settings.outbox_max_attempts = 2;
    let env = Env::start(settings);
    env.add_shop(store, &sim, "MAIN").await;
    let codes = stock_all(&env.daemon, store, &sim, 10).await;
    wait_real_stock(&sim, &codes[0], 10, DEADLINE).await;
    let order = sim
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(codes[0].clone(), 1)],
            ..OrderSpec::default()
        })
        .unwrap();
    wait_for("the order imported", DEADLINE, || async {
        env.daemon.get_order(store, &order).await.ok()
    })
    .await;
    // The shop refuses every status write of this order.
    sim.set_faults(FaultConfig {
        error_rates: BTreeMap::from([(400, 1.0)]),
        path_prefix: Some(format!("/api/orders/{order}/")),
        ..FaultConfig::default()
    });
    env.daemon.process_order(store, &order, None).await.unwrap();
    wait_for("the push parked as a dead letter", DEADLINE, || async {
        let dead = env
            .daemon
            .outbox(store, Some(OutboxState::DeadLetter))
            .await
            .ok()?;
        (!dead.is_empty()).then_some(())
    })
    .await;
    let error = wait_line(store, "the dead letter at error", |l| {
        l.level == Level::ERROR && l.message.contains("dead letter")
    })
    .await;
    assert_eq!(error.field("order_code"), Some(order.as_str()));
    assert!(
        error
            .message
            .contains(&format!("shoptetctl outbox retry {store} --dead-letters")),
        "{}",
        error.message
    );
    // The failed attempt before it was a warning at most, never an error.
    let errors = errors_of(store);
    assert_eq!(errors.len(), 1, "{errors:?}");
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn an_order_changed_in_the_shop_after_import_logs_an_error_with_the_order_code() {
    captured();
    let store = "order-conflict";
    let sim = start_sim(small_shop()).await;
    let env = Env::start(fast_settings());
    env.add_shop(store, &sim, "MAIN").await;
    let codes = stock_all(&env.daemon, store, &sim, 10).await;
    wait_real_stock(&sim, &codes[0], 10, DEADLINE).await;
    let order = sim
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(codes[0].clone(), 1)],
            ..OrderSpec::default()
        })
        .unwrap();
    wait_for("the order imported", DEADLINE, || async {
        env.daemon.get_order(store, &order).await.ok()
    })
    .await;
    env.daemon.process_order(store, &order, None).await.unwrap();
    assert!(errors_of(store).is_empty(), "{:?}", errors_of(store));

    // The shop admin changes the quantity after import.
    sim.edit_order(
        &order,
        &OrderEditSpec {
            items: Some(vec![ItemSpec::new(codes[0].clone(), 3)]),
            ..OrderEditSpec::default()
        },
    )
    .unwrap();
    let error = wait_line(store, "the conflict at error", |l| {
        l.level == Level::ERROR && l.field("order_code") == Some(order.as_str())
    })
    .await;
    assert_eq!(error.field("sync_type"), Some("orders"));
    assert!(
        error
            .message
            .contains(&format!("shoptetctl orders resolve {store} {order}")),
        "{}",
        error.message
    );
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}
