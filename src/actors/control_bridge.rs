//! Routes control-channel requests to the actor system (implements the control layer's
//! `ControlHandler` once that layer is merged).
