//! Actors: the supervisor, one integration actor per Shoptet store, and their scheduling.
