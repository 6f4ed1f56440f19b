//! The Shoptet REST API client: authentication, limits, retries and typed calls.
