//! Reports: health per store, fulfilment over a date range, inventory sync.
