//! Regression test: credentials are write-only, yet a request whose `credentials` has the wrong
//! shape is refused with a message that quotes the token (returned to the client and logged at
//! debug level by the control server).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use shoptet_sync::control::protocol::parse_request_line;

const TOKEN: &str = "review-secret-token-0123456789";

#[test]
fn a_misshaped_credentials_argument_is_refused_without_quoting_the_token() {
    let cases = [
        // The token given directly instead of `{kind, token}`.
        format!(
            r#"{{"v":1,"id":1,"op":"integration.update_credentials","args":{{"name":"demo","credentials":"{TOKEN}"}}}}"#
        ),
        format!(
            r#"{{"v":1,"id":2,"op":"integration.create","args":{{"name":"demo","eshop_url":"https://x.myshoptet.com","credentials":"{TOKEN}"}}}}"#
        ),
    ];
    for line in cases {
        let refused =
            parse_request_line(line.as_bytes()).expect_err("a misshaped request is refused");
        assert!(
            !refused.error.message.contains(TOKEN),
            "the refusal quotes the token: {}",
            refused.error.message
        );
    }
}
