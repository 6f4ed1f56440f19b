//! Protocol-level tests: every request and response type round-trips, op names match the wire,
//! staged parsing gives precise errors, and no response type can carry a secret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use shoptet_sync::control::protocol::*;
use shoptet_sync::domain::*;
use uuid::Uuid;

const TOKEN: &str = "tok-9f8e7d6c5b4a-SECRET";

fn t(day: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, 8, 30, 0).unwrap()
}

fn credentials() -> CredentialsInput {
    CredentialsInput {
        kind: CredentialsKind::PrivateToken,
        token: Secret::new(TOKEN),
    }
}

/// One example of every request; `exhaustive_request` fails to compile when a variant is added
/// without an example here.
fn every_request() -> Vec<Request> {
    let n = || "demo".to_owned();
    let c = || "2025000318".to_owned();
    let id = Uuid::from_u128(7);
    vec![
        Request::IntegrationCreate(NewIntegration {
            name: n(),
            eshop_url: "https://demo.myshoptet.com".into(),
            api_base_url: None,
            credentials: Some(credentials()),
            default_warehouse_code: Some("MAIN".into()),
            shoptet_stock_id: Some(1),
            sync_interval_minutes: Some(15),
            auto_order_import: Some(true),
            auto_inventory_sync: None,
            auto_status_update: None,
            status_mapping: Some(StatusMapping::default()),
            low_stock_threshold: Some(Decimal::new(5, 0)),
        }),
        Request::IntegrationGet { name: n() },
        Request::IntegrationList {},
        Request::IntegrationUpdate(IntegrationPatch {
            name: n(),
            sync_interval_minutes: Some(30),
            ..Default::default()
        }),
        Request::IntegrationDelete { name: n() },
        Request::IntegrationActivate { name: n() },
        Request::IntegrationDeactivate {
            name: n(),
            reason: "holiday".into(),
        },
        Request::IntegrationUpdateCredentials {
            name: n(),
            credentials: credentials(),
        },
        Request::SyncOrders {
            integration: n(),
            force: true,
        },
        Request::SyncInventory {
            integration: n(),
            force: false,
        },
        Request::SyncProducts {
            integration: n(),
            force: false,
        },
        Request::SyncPrices {
            integration: n(),
            force: false,
        },
        Request::SyncFull {
            integration: n(),
            force: true,
        },
        Request::OrdersList(OrderQuery {
            status: Some(OrderStatus::Imported),
            from: Some(t(1)),
            to: Some(t(2)),
            ..OrderQuery::all("demo")
        }),
        Request::OrderGet {
            integration: n(),
            code: c(),
        },
        Request::OrderProcess {
            integration: n(),
            code: c(),
            picking_session: Some("PS-1".into()),
        },
        Request::OrderShip {
            integration: n(),
            code: c(),
            tracking_number: Some("DR1234567890E".into()),
            transport_box: Some("B1".into()),
        },
        Request::OrderCancel {
            integration: n(),
            code: c(),
            reason: "customer asked".into(),
        },
        Request::OrderAddNote {
            integration: n(),
            code: c(),
            note: "fragile".into(),
        },
        Request::OrderResolve {
            integration: n(),
            code: c(),
            resolution: ConflictResolution::KeepOurs,
        },
        Request::PickList {
            integration: n(),
            picking_session: "PS-1".into(),
        },
        Request::ProductsList(ProductQuery {
            low_stock: true,
            search: Some("mug".into()),
            ..ProductQuery::all("demo")
        }),
        Request::ProductUpdatePrice {
            integration: n(),
            code: "SKU-1".into(),
            price: Decimal::new(19990, 2),
        },
        Request::ProductToggleSync {
            integration: n(),
            code: "SKU-1".into(),
            enabled: false,
        },
        Request::StockSet {
            integration: n(),
            code: "SKU-1".into(),
            quantity: Decimal::new(42, 0),
        },
        Request::StockBulkSet {
            integration: n(),
            items: vec![
                StockItem {
                    code: "SKU-1".into(),
                    quantity: Decimal::new(1, 0),
                },
                StockItem {
                    code: "SKU-2".into(),
                    quantity: Decimal::new(25, 1),
                },
            ],
        },
        Request::SyncHistory {
            integration: n(),
            days: 7,
        },
        Request::ErrorsList {
            integration: n(),
            all: true,
        },
        Request::ErrorResolve {
            integration: n(),
            id,
            resolution: "fixed the mapping".into(),
        },
        Request::ErrorSeverity {
            integration: n(),
            id,
            severity: ErrorSeverity::Critical,
        },
        Request::ProductHistory {
            integration: n(),
            code: "SKU-1".into(),
        },
        Request::OutboxList {
            integration: n(),
            state: Some(OutboxState::DeadLetter),
        },
        Request::OutboxRetry {
            integration: n(),
            id: None,
        },
        Request::OutboxDrop {
            integration: n(),
            id,
        },
        Request::Health { integration: n() },
        Request::FulfillmentReport {
            integration: n(),
            from: t(1),
            to: t(30),
        },
        Request::InventoryReport { integration: n() },
        Request::DaemonStatus {},
        Request::Backup {
            path: "/var/backups/shoptet.snap".into(),
        },
    ]
}

fn exhaustive_request(request: &Request) {
    match request {
        Request::IntegrationCreate(_)
        | Request::IntegrationGet { .. }
        | Request::IntegrationList {}
        | Request::IntegrationUpdate(_)
        | Request::IntegrationDelete { .. }
        | Request::IntegrationActivate { .. }
        | Request::IntegrationDeactivate { .. }
        | Request::IntegrationUpdateCredentials { .. }
        | Request::SyncOrders { .. }
        | Request::SyncInventory { .. }
        | Request::SyncProducts { .. }
        | Request::SyncPrices { .. }
        | Request::SyncFull { .. }
        | Request::OrdersList(_)
        | Request::OrderGet { .. }
        | Request::OrderProcess { .. }
        | Request::OrderShip { .. }
        | Request::OrderCancel { .. }
        | Request::OrderAddNote { .. }
        | Request::OrderResolve { .. }
        | Request::PickList { .. }
        | Request::ProductsList(_)
        | Request::ProductUpdatePrice { .. }
        | Request::ProductToggleSync { .. }
        | Request::StockSet { .. }
        | Request::StockBulkSet { .. }
        | Request::SyncHistory { .. }
        | Request::ErrorsList { .. }
        | Request::ErrorResolve { .. }
        | Request::ErrorSeverity { .. }
        | Request::ProductHistory { .. }
        | Request::OutboxList { .. }
        | Request::OutboxRetry { .. }
        | Request::OutboxDrop { .. }
        | Request::Health { .. }
        | Request::FulfillmentReport { .. }
        | Request::InventoryReport { .. }
        | Request::DaemonStatus {}
        | Request::Backup { .. } => {}
    }
}

#[test]
fn every_request_round_trips_through_the_line_parser() {
    let requests = every_request();
    let mut ops: Vec<&str> = requests.iter().map(Request::op_name).collect();
    ops.sort_unstable();
    ops.dedup();
    assert_eq!(ops.len(), requests.len(), "one example per op");
    assert_eq!(
        ops.len(),
        Request::OP_NAMES.len(),
        "every op has an example"
    );
    for (n, request) in requests.into_iter().enumerate() {
        exhaustive_request(&request);
        let envelope = RequestEnvelope::new(n as u64, request.clone());
        let line = serde_json::to_string(&envelope).unwrap();
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["op"], request.op_name(), "{line}");
        assert_eq!(value["v"], 1);
        assert!(
            value["args"].is_object(),
            "args is always an object: {line}"
        );
        let parsed = parse_request_line(line.as_bytes()).unwrap();
        assert_eq!(parsed, envelope, "{line}");
    }
}

#[test]
fn reads_are_not_mutating_and_writes_are() {
    for request in every_request() {
        let op = request.op_name();
        let read_only = op.ends_with(".get")
            || op.ends_with(".list")
            || op.starts_with("report.")
            || op == "order.pick_list"
            || op == "sync.history"
            || op == "product.history"
            || op == "daemon.status";
        assert_eq!(request.is_mutating(), !read_only, "{op}");
    }
}

#[test]
fn request_debug_output_hides_tokens() {
    for request in every_request() {
        let debug = format!("{request:?}");
        assert!(!debug.contains(TOKEN), "{debug}");
    }
}

fn refusal(line: &str) -> RequestLineError {
    parse_request_line(line.as_bytes()).unwrap_err()
}

#[test]
fn staged_parsing_names_the_problem_and_echoes_the_id() {
    let e = refusal("{not json");
    assert_eq!((e.id, e.error.code), (None, ErrorCode::InvalidArgument));
    assert!(e.error.message.contains("malformed JSON"), "{}", e.error);

    let e = refusal(r#"[1,2]"#);
    assert!(e.error.message.contains("JSON object"));

    let e = refusal(r#"{"v":1,"op":"daemon.status"}"#);
    assert!(e.error.message.contains("no `id`"));

    let e = refusal(r#"{"v":2,"id":"abc","op":"daemon.status"}"#);
    assert_eq!(e.id, Some(RequestId::Text("abc".into())));
    assert!(
        e.error.message.contains("unsupported protocol version 2"),
        "{}",
        e.error
    );

    let e = refusal(r#"{"id":5,"op":"daemon.status"}"#);
    assert_eq!(e.id, Some(RequestId::Number(5)));
    assert!(e.error.message.contains("`v`"));

    let e = refusal(r#"{"v":1,"id":5,"op":"orders.explode","args":{}}"#);
    assert!(
        e.error
            .message
            .contains("unknown operation `orders.explode`"),
        "{}",
        e.error
    );

    let e = refusal(r#"{"v":1,"id":5,"op":"order.get","args":{"integration":"demo"}}"#);
    assert!(
        e.error.message.contains("missing field `code`"),
        "{}",
        e.error
    );

    let e = refusal(
        r#"{"v":1,"id":5,"op":"order.get","args":{"integration":"demo","code":"1","typo":1}}"#,
    );
    assert!(
        e.error.message.contains("unknown field `typo`"),
        "{}",
        e.error
    );

    let e = refusal(
        r#"{"v":1,"id":5,"op":"orders.list","args":{"integration":"demo","stauts":"Imported"}}"#,
    );
    assert!(
        e.error.message.contains("unknown field `stauts`"),
        "{}",
        e.error
    );

    let e = refusal(r#"{"v":1,"id":5,"op":"daemon.status","extra":true}"#);
    assert!(e.error.message.contains("unknown envelope field `extra`"));

    let e = refusal(r#"{"v":1,"id":-3,"op":"daemon.status"}"#);
    assert_eq!(e.id, None);
}

#[test]
fn args_may_be_omitted_for_operations_without_arguments() {
    let parsed = parse_request_line(br#"{"v":1,"id":"x","op":"daemon.status"}"#).unwrap();
    assert_eq!(parsed.request, Request::DaemonStatus {});
    let parsed =
        parse_request_line(br#"{"v":1,"id":"x","op":"integration.list","args":null}"#).unwrap();
    assert_eq!(parsed.request, Request::IntegrationList {});
    // Defaults of list queries.
    let parsed =
        parse_request_line(br#"{"v":1,"id":1,"op":"orders.list","args":{"integration":"demo"}}"#)
            .unwrap();
    assert_eq!(parsed.request, Request::OrdersList(OrderQuery::all("demo")));
}

#[test]
fn validation_rejects_bad_shapes() {
    let check = |request: Request, needle: &str| {
        let error = request.validate().unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidArgument);
        assert!(
            error.message.contains(needle),
            "{error} should mention {needle}"
        );
    };
    check(
        Request::IntegrationGet { name: " ".into() },
        "integration name",
    );
    check(
        Request::OrdersList(OrderQuery {
            page: 0,
            ..OrderQuery::all("demo")
        }),
        "page",
    );
    check(
        Request::ProductsList(ProductQuery {
            page_size: MAX_PAGE_SIZE + 1,
            ..ProductQuery::all("demo")
        }),
        "page_size",
    );
    check(
        Request::OrdersList(OrderQuery {
            from: Some(t(5)),
            to: Some(t(5)),
            ..OrderQuery::all("demo")
        }),
        "before",
    );
    check(
        Request::StockSet {
            integration: "demo".into(),
            code: "A".into(),
            quantity: Decimal::new(-1, 0),
        },
        "negative",
    );
    let item = |code: &str| StockItem {
        code: code.into(),
        quantity: Decimal::ONE,
    };
    check(
        Request::StockBulkSet {
            integration: "demo".into(),
            items: vec![item("A"), item("B"), item("A")],
        },
        "item 2: code `A` appears more than once",
    );
    check(
        Request::StockBulkSet {
            integration: "demo".into(),
            items: vec![],
        },
        "empty",
    );
    check(
        Request::Backup {
            path: "relative.snap".into(),
        },
        "absolute",
    );
    check(
        Request::SyncHistory {
            integration: "demo".into(),
            days: 0,
        },
        "days",
    );
    check(
        Request::ProductUpdatePrice {
            integration: "demo".into(),
            code: "A".into(),
            price: Decimal::new(-5, 1),
        },
        "negative",
    );
    for request in every_request() {
        request.validate().unwrap();
    }
}

#[test]
fn error_codes_have_stable_wire_names() {
    let codes = [
        (ErrorCode::NotFound, "not_found"),
        (ErrorCode::InvalidArgument, "invalid_argument"),
        (ErrorCode::Conflict, "conflict"),
        (ErrorCode::Unauthorized, "unauthorized"),
        (ErrorCode::Unavailable, "unavailable"),
        (ErrorCode::Busy, "busy"),
        (ErrorCode::Internal, "internal"),
    ];
    for (code, name) in codes {
        assert_eq!(serde_json::to_value(code).unwrap(), name);
        assert_eq!(code.as_str(), name);
    }
    let state: ControlError = DomainError::InvalidState("order is shipped".into()).into();
    assert_eq!(state.code, ErrorCode::Conflict);
    let argument: ControlError = DomainError::InvalidArgument {
        field: "tracking_number",
        reason: "too long".into(),
    }
    .into();
    assert_eq!(argument.code, ErrorCode::InvalidArgument);
    assert!(argument.message.contains("tracking_number"));
}

// ------------------------------------------------------------------------------------------
// Responses never carry secrets
// ------------------------------------------------------------------------------------------

fn integration() -> Integration {
    Integration {
        id: Uuid::from_u128(1),
        name: "demo".into(),
        eshop_url: "https://demo.myshoptet.com".into(),
        api_base_url: "https://api.myshoptet.com".into(),
        credentials: Some(Credentials::AddonOAuth(Secret::new(TOKEN))),
        status: IntegrationStatus::Active,
        status_reason: None,
        last_sync: Some(t(3)),
        last_order_sync: Some(t(3)),
        last_inventory_sync: None,
        auto_order_import: true,
        auto_inventory_sync: true,
        auto_status_update: true,
        sync_interval_minutes: 15,
        default_warehouse_code: "MAIN".into(),
        shoptet_stock_id: 1,
        status_mapping: StatusMapping::default(),
        low_stock_threshold: Decimal::new(5, 0),
        created_at: t(1),
        updated_at: t(2),
    }
}

fn czk(amount: i64) -> Money {
    Money {
        amount: Decimal::new(amount, 0),
        currency: "CZK".into(),
    }
}

fn incoming_order() -> IncomingOrder {
    IncomingOrder {
        code: "2025000318".into(),
        guid: Some("g-1".into()),
        created_at: Some(t(2)),
        changed_at: Some(t(2)),
        shop_status_id: Some(-1),
        total: czk(1234),
        customer_email: Some("jana@example.com".into()),
        customer_name: Some("Jana Nováková".into()),
        shipping_address: Some(Address::default()),
        items: vec![OrderItem {
            item_type: ItemType::Product,
            product_code: Some("SKU-1".into()),
            name: "Mug".into(),
            variant_name: None,
            quantity: Decimal::new(2, 0),
            unit_price: Decimal::new(617, 0),
            total_price: Decimal::new(1234, 0),
        }],
    }
}

/// A freshly imported order.
fn order() -> Order {
    Order::from_incoming(&incoming_order(), Uuid::from_u128(1), t(2))
}

/// An order the shop changed after import: in review, carrying the shop's version.
fn order_in_review() -> Order {
    let mut changed = incoming_order();
    changed.changed_at = Some(t(3));
    changed.items[0].quantity = Decimal::new(3, 0);
    changed.items[0].total_price = Decimal::new(1851, 0);
    changed.total = czk(1851);
    match order::import(Some(&order()), &changed, Uuid::from_u128(1), t(3)).unwrap() {
        ImportOutcome::Conflict(order) => order,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn outbox_entry() -> OutboxEntry {
    OutboxEntry::new(
        Uuid::from_u128(1),
        1,
        "2025000318",
        OutboxAction::SetStatus { status_id: -2 },
        t(3),
    )
}

fn product() -> Product {
    Product {
        integration_id: Uuid::from_u128(1),
        code: "SKU-1".into(),
        shop_product_guid: None,
        name: "Mug".into(),
        price: Decimal::new(617, 0),
        stock_quantity: Decimal::new(3, 0),
        active: true,
        sync_enabled: true,
        category: None,
        description: None,
        last_sync: None,
        last_price_update: None,
        last_stock_update: None,
    }
}

fn sync_log() -> SyncLog {
    SyncLog {
        id: Uuid::from_u128(3),
        integration_id: Uuid::from_u128(1),
        sync_type: SyncType::Orders,
        started_at: t(3),
        finished_at: t(3),
        records_processed: 4,
        error_count: 0,
        status: SyncStatus::Completed,
        notes: None,
    }
}

fn error_log() -> ErrorLog {
    ErrorLog {
        id: Uuid::from_u128(4),
        integration_id: Uuid::from_u128(1),
        message: "Shop refused the token".into(),
        details: None,
        sync_type: Some(SyncType::Orders),
        severity: ErrorSeverity::High,
        occurred_at: t(3),
        resolved_at: None,
        resolved_by: None,
        resolution: None,
    }
}

fn sync_result() -> SyncResult {
    SyncResult {
        sync_type: SyncType::Orders,
        status: SyncStatus::Completed,
        records: 4,
        errors: 0,
        performed: true,
        started_at: t(3),
        finished_at: t(3),
        message: "Imported 4 orders".into(),
    }
}

/// Reports are built by the domain from the fixtures (the integration holds the token).
fn health_report() -> HealthReport {
    let report = HealthReport::build(
        &integration(),
        &[order(), order_in_review()],
        &[product()],
        &[sync_log()],
        &[error_log()],
        &[outbox_entry()],
        t(3),
    );
    assert_eq!(report.recent_syncs.len(), 1);
    assert_eq!(report.unresolved_errors.len(), 1);
    assert_eq!(report.outbox_pending, 1);
    report
}

fn fulfillment_report() -> FulfillmentReport {
    let report =
        FulfillmentReport::build(&integration(), &[order_in_review()], t(1), t(30), t(30)).unwrap();
    assert_eq!(report.grades.get(&FulfillmentGrade::Issues), Some(&1));
    report
}

fn inventory_report() -> InventoryReport {
    let discrepancy = ErrorLog::inventory_discrepancy(
        Uuid::from_u128(1),
        "SKU-1",
        Decimal::new(2, 0),
        Decimal::new(3, 0),
        t(3),
    );
    let report = InventoryReport::build(&integration(), &[product()], &[discrepancy], t(3));
    assert_eq!(report.open_discrepancies, 1);
    report
}

fn every_response() -> Vec<Response> {
    let view = IntegrationView::from(&integration());
    vec![
        Response::Integration(view.clone()),
        Response::Integrations(vec![view]),
        Response::Ack(Ack {
            message: "deleted".into(),
        }),
        Response::Sync(sync_result()),
        Response::SyncFull(vec![sync_result()]),
        Response::OrderPage(OrderPage {
            items: vec![OrderSummary::from(&order())],
            total: 1,
            page: 1,
            page_size: 50,
        }),
        Response::Order(order_in_review()),
        Response::PickList(PickList {
            integration: "demo".into(),
            picking_session: "PS-1".into(),
            order_codes: vec!["2025000318".into()],
            lines: vec![PickLine {
                product_code: "SKU-1".into(),
                name: "Mug".into(),
                quantity: Decimal::new(2, 0),
                order_codes: vec!["2025000318".into()],
            }],
        }),
        Response::ProductPage(ProductPage {
            items: vec![product()],
            total: 1,
            page: 1,
            page_size: 50,
        }),
        Response::Product(product()),
        Response::Stock(StockLevel {
            warehouse_code: "MAIN".into(),
            product_code: "SKU-1".into(),
            on_hand: Decimal::new(42, 0),
            updated_at: t(3),
        }),
        Response::StockBulk(StockBulkResult {
            warehouse_code: "MAIN".into(),
            updated: 2,
            unchanged: 0,
        }),
        Response::SyncHistory(vec![sync_log()]),
        Response::Errors(vec![error_log()]),
        Response::Error(error_log()),
        Response::PriceHistory(vec![PriceChange {
            id: Uuid::from_u128(9),
            integration_id: Uuid::from_u128(1),
            product_code: "SKU-1".into(),
            old_price: Decimal::new(19900, 2),
            new_price: Decimal::new(24900, 2),
            changed_at: t(3),
            source: "ctl:alice".into(),
            pushed_at: None,
        }]),
        Response::Outbox(vec![outbox_entry()]),
        Response::OutboxChange(OutboxChange {
            affected: 1,
            message: "retrying 1".into(),
        }),
        Response::Health(health_report()),
        Response::Fulfillment(fulfillment_report()),
        Response::Inventory(inventory_report()),
        Response::DaemonStatus(DaemonStatus {
            version: "0.1.0".into(),
            protocol: PROTOCOL_VERSION,
            uptime_secs: 5,
            stores: vec![StoreStatus {
                name: "demo".into(),
                status: IntegrationStatus::Active,
                health: HealthStatus::Healthy,
                last_sync: None,
                last_order_sync: None,
                last_inventory_sync: None,
                outbox_pending: 0,
                outbox_dead_letters: 0,
            }],
        }),
        Response::Backup(BackupResult {
            path: "/var/backups/x".into(),
            bytes: 10,
        }),
    ]
}

fn exhaustive_response(response: &Response) -> &'static str {
    match response {
        Response::Integration(_) => "integration",
        Response::Integrations(_) => "integrations",
        Response::Ack(_) => "ack",
        Response::Sync(_) => "sync",
        Response::SyncFull(_) => "sync_full",
        Response::OrderPage(_) => "order_page",
        Response::Order(_) => "order",
        Response::PickList(_) => "pick_list",
        Response::ProductPage(_) => "product_page",
        Response::Product(_) => "product",
        Response::Stock(_) => "stock",
        Response::StockBulk(_) => "stock_bulk",
        Response::SyncHistory(_) => "sync_history",
        Response::Errors(_) => "errors",
        Response::Error(_) => "error",
        Response::PriceHistory(_) => "price_history",
        Response::Outbox(_) => "outbox",
        Response::OutboxChange(_) => "outbox_change",
        Response::Health(_) => "health",
        Response::Fulfillment(_) => "fulfillment",
        Response::Inventory(_) => "inventory",
        Response::DaemonStatus(_) => "daemon_status",
        Response::Backup(_) => "backup",
    }
}

fn keys(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                out.push(key.clone());
                keys(inner, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[test]
fn no_response_type_carries_a_secret() {
    let responses = every_response();
    let mut types: Vec<&str> = responses.iter().map(exhaustive_response).collect();
    types.sort_unstable();
    types.dedup();
    assert_eq!(
        types.len(),
        responses.len(),
        "one example per response type"
    );
    for response in responses {
        let tag = exhaustive_response(&response);
        let envelope = ResponseEnvelope::success(Some(RequestId::Number(1)), response.clone());
        let json = serde_json::to_string(&envelope).unwrap();
        assert!(!json.contains(TOKEN), "{tag} leaks the token: {json}");
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["result"]["type"], tag);
        let mut names = Vec::new();
        keys(&value, &mut names);
        for name in names {
            let lower = name.to_lowercase();
            assert!(
                !["token", "secret", "password", "api_key", "apikey"]
                    .iter()
                    .any(|bad| lower.contains(bad)),
                "{tag} has a secret-looking field `{name}`"
            );
        }
        let back: ResponseEnvelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back.result, Some(response), "{tag} round-trips");
    }
    // The view tells which kind of credentials is stored, nothing more.
    let view = serde_json::to_value(IntegrationView::from(&integration())).unwrap();
    assert_eq!(view["credentials"], "addon_oauth");
}

#[test]
fn failure_envelope_shape() {
    let envelope = ResponseEnvelope::failure(
        Some(RequestId::Text("a".into())),
        ControlError::not_found("no integration named `x`"),
    );
    let value = serde_json::to_value(&envelope).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"v":1,"id":"a","ok":false,"error":{"code":"not_found","message":"no integration named `x`"}})
    );
    let error = envelope.into_result().unwrap_err();
    assert_eq!(error.code, ErrorCode::NotFound);
}

#[test]
fn the_protocol_document_covers_every_operation_and_error_code() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md")).unwrap();
    for op in Request::OP_NAMES {
        assert!(
            doc.contains(&format!("| `{op}`")),
            "docs/protocol.md lacks a row for `{op}`"
        );
    }
    for code in [
        "not_found",
        "invalid_argument",
        "conflict",
        "unauthorized",
        "unavailable",
        "busy",
        "internal",
    ] {
        assert!(
            doc.contains(&format!("| `{code}`")),
            "docs/protocol.md lacks error code `{code}`"
        );
    }
    for response in every_response() {
        let tag = exhaustive_response(&response);
        assert!(
            doc.contains(&format!("| `{tag}`")),
            "docs/protocol.md lacks result type `{tag}`"
        );
    }
}

#[test]
fn decimals_are_strings_on_the_wire_and_numbers_are_accepted() {
    let parsed = parse_request_line(
        br#"{"v":1,"id":1,"op":"stock.set","args":{"integration":"demo","code":"A","quantity":42}}"#,
    )
    .unwrap();
    let parsed_str = parse_request_line(
        br#"{"v":1,"id":1,"op":"stock.set","args":{"integration":"demo","code":"A","quantity":"42"}}"#,
    )
    .unwrap();
    assert_eq!(parsed.request, parsed_str.request);
    let json = serde_json::to_value(&parsed.request).unwrap();
    assert_eq!(json["args"]["quantity"], "42");
}

#[test]
fn every_response_renders_for_people_without_secrets() {
    for response in every_response() {
        let text = shoptet_sync::control::render::render(&response);
        let tag = exhaustive_response(&response);
        assert!(text.ends_with('\n') && text.len() > 5, "{tag}: {text:?}");
        assert!(!text.contains(TOKEN), "{tag}");
        assert!(
            text.lines().all(|l| l == l.trim_end()),
            "{tag} has trailing spaces:\n{text}"
        );
        if std::env::var_os("SHOW_RENDER").is_some() {
            println!("--- {tag}\n{text}");
        }
    }
}

#[test]
fn conflict_resolutions_are_snake_case_on_the_wire() {
    let line = |resolution: &str| {
        format!(
            r#"{{"v":1,"id":1,"op":"order.resolve","args":{{"integration":"demo","code":"1","resolution":"{resolution}"}}}}"#
        )
    };
    for (wire, expected) in [
        ("accept_shop", ConflictResolution::AcceptShop),
        ("keep_ours", ConflictResolution::KeepOurs),
    ] {
        let parsed = parse_request_line(line(wire).as_bytes()).unwrap();
        let Request::OrderResolve { resolution, .. } = parsed.request else {
            panic!("parsed as {:?}", parsed.request);
        };
        assert_eq!(resolution, expected);
        assert_eq!(serde_json::to_value(expected).unwrap(), wire);
    }
    let refused = parse_request_line(line("KeepOurs").as_bytes()).unwrap_err();
    assert_eq!(refused.error.code, ErrorCode::InvalidArgument);
}

#[test]
fn report_shapes_on_the_wire() {
    let fulfillment = serde_json::to_value(fulfillment_report()).unwrap();
    assert_eq!(fulfillment["name"], "demo");
    assert_eq!(fulfillment["orders_by_status"]["Error"], 1);
    assert_eq!(fulfillment["grades"]["Issues"], 1);
    // Imported more than 24 h before `now` and not processed: due, and missed.
    assert_eq!(fulfillment["sla_met_percent"], "0", "decimals are strings");
    let health = serde_json::to_value(health_report()).unwrap();
    assert_eq!(health["counts"]["total_orders"], 2);
    assert_eq!(health["unresolved_error_count"], 1);
    assert_eq!(health["outbox_dead_letters"], 0);
    let inventory = serde_json::to_value(inventory_report()).unwrap();
    assert_eq!(inventory["warehouse_code"], "MAIN");
    assert_eq!(inventory["open_discrepancies"], 1);
}
