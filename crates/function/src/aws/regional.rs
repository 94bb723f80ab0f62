//! Clients per region, each built on first use and then kept (so a cold start that stops a Step Functions
//! execution never builds the Lambda clients, and builds none before its event arrives); and a service's clients
//! in any account a request reaches.
//!
//! Each region has a `read` client (the SDK retries describes and lists) and a `stop` client (one attempt: a
//! stop whose answer was lost may still have happened, so the service describes again before any resend).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};

use aws_config::SdkConfig;
use stop_gateway_core::domain::failure::StopError;
use stop_gateway_core::domain::target::TargetArn;
use tokio::time::Instant;

use super::pacing::{Api, Pacer, paced};
use super::reach::{Reach, Via};

/// At most this many regions keep their clients. AWS has fewer regions than this in all partitions together;
/// past it (a policy with `regions = ["*"]` and callers naming made-up regions), a client is built for the call
/// and dropped, so no caller can grow the process without limit.
pub const MAX_CACHED_REGIONS: usize = 64;

/// A service's clients for one region.
#[derive(Clone, Debug)]
pub struct Clients<C> {
    /// For describe and list calls: the shared retry configuration.
    pub read: C,
    /// For stop calls: retries disabled.
    pub stop: C,
}

impl<C: Clone> Clients<C> {
    /// The same client for both (tests whose mocked clients never retry).
    pub fn same(client: C) -> Self {
        Clients { read: client.clone(), stop: client }
    }
}

/// One client set per region.
pub struct Regional<C> {
    make: Box<dyn Fn(&str) -> C + Send + Sync>,
    clients: RwLock<HashMap<String, C>>,
}

impl<C: Clone> Regional<C> {
    /// `make` builds the client of a region when it is first needed. Nothing is built here: under Lambda's CPU
    /// share a cold start pays for every client it builds, and the first stop needs one service's clients only.
    pub fn new(make: impl Fn(&str) -> C + Send + Sync + 'static) -> Self {
        Regional { make: Box::new(make), clients: RwLock::new(HashMap::new()) }
    }

    /// The client for `region`.
    pub fn client(&self, region: &str) -> C {
        if let Some(client) = self.clients.read().ok().and_then(|m| m.get(region).cloned()) {
            return client;
        }
        let client = (self.make)(region);
        if let Ok(mut clients) = self.clients.write() {
            if clients.len() < MAX_CACHED_REGIONS {
                return clients.entry(region.to_owned()).or_insert(client).clone();
            }
            tracing::warn!(region, cached = clients.len(), "region cache full; this client is not kept");
        }
        client
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.clients.read().map(|m| m.len()).unwrap_or_default()
    }
}

/// Builds a service's clients for a region from a configuration (the function's own, or a request's role session).
pub type MakeClients<C> = dyn Fn(&SdkConfig, &str) -> Clients<C> + Send + Sync;

/// A service's clients in every account a request may reach, and the pacer they share: the function's own
/// account's, per region, kept; another account's built for the call from the request's role session (in
/// memory, no I/O: the session's credentials and identity cache travel in its configuration, and the HTTPS
/// client is shared).
pub struct ServiceClients<C> {
    own: Regional<Clients<C>>,
    make: Arc<MakeClients<C>>,
    pacer: Arc<Pacer>,
}

impl<C: Clone + 'static> ServiceClients<C> {
    /// The function's own clients from `make(sdk, region)`, each region's built on first use; every call paced
    /// by `pacer`.
    pub fn new(
        sdk: &SdkConfig,
        pacer: Arc<Pacer>,
        make: impl Fn(&SdkConfig, &str) -> Clients<C> + Send + Sync + 'static,
    ) -> Self {
        let make: Arc<MakeClients<C>> = Arc::new(make);
        let (own_make, own_sdk) = (make.clone(), sdk.clone());
        let own = Regional::new(move |region: &str| own_make(&own_sdk, region));
        ServiceClients { own, make, pacer }
    }

    /// The one call skeleton every adapter call goes through: this request's clients for `target`'s account
    /// and region (`account_not_configured` for an account the request does not reach), the stop client for a
    /// stop and the read client otherwise, paced and cut at the invocation's `deadline`.
    pub async fn call<T, F, Fut>(
        &self,
        reach: &Reach,
        target: &TargetArn,
        api: Api,
        deadline: Instant,
        call: F,
    ) -> Result<T, StopError>
    where
        F: Fn(C) -> Fut,
        Fut: Future<Output = Result<T, StopError>>,
    {
        let (account, region) = (target.account(), target.region().as_str());
        let clients = match reach.via(account)? {
            Via::Own => self.own.client(region),
            Via::Role(session) => (self.make)(session, region),
        };
        let client = if api.is_stop() { clients.stop } else { clients.read };
        paced(&self.pacer, (account.as_str(), region), api, deadline, || call(client.clone())).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn builds_each_regional_client_once() {
        let built = Arc::new(AtomicUsize::new(0));
        let counter = built.clone();
        let regional = Regional::new(move |region: &str| {
            counter.fetch_add(1, Ordering::SeqCst);
            region.to_owned()
        });
        assert_eq!(built.load(Ordering::SeqCst), 0, "nothing is built before it is needed");
        assert_eq!(regional.client("us-east-1"), "us-east-1");
        assert_eq!(regional.client("eu-west-1"), "eu-west-1");
        assert_eq!(regional.client("eu-west-1"), "eu-west-1");
        assert_eq!(built.load(Ordering::SeqCst), 2);
        assert_eq!(regional.len(), 2);
    }

    #[test]
    fn made_up_regions_cannot_grow_the_cache_without_limit() {
        let regional = Regional::new(|region: &str| region.to_owned());
        for i in 0..MAX_CACHED_REGIONS * 3 {
            let region = format!("xx-fake-{i}");
            assert_eq!(regional.client(&region), region, "every region still gets a client");
        }
        assert_eq!(regional.len(), MAX_CACHED_REGIONS);
        assert_eq!(regional.client("us-east-1"), "us-east-1");
    }
}
