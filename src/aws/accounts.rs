//! Credentials and clients in other accounts: STS `AssumeRole` through aws-config's own provider, one role
//! session per gateway request and account, and clients per (account, region) kept like the regional ones.
//!
//! The session is named `stop-gateway-<audit id>`, so CloudTrail in the target account names the audit record
//! of the request behind every call. A session's credentials are kept for that request (and taken again shortly
//! before they expire, for a long bulk stop), never lent to another request: a reused session would name the
//! wrong request. Which request is running is a task-local [`Scope`], set by the stop flow around each request;
//! the clients of an account are built once and ask it for credentials on every call (no SDK identity cache,
//! which would hand one request's session to the next).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};

use super::regional::MAX_CACHED_REGIONS;
use crate::domain::accounts::{Access, AccountRole, AccountRoles};
use crate::domain::aws_ids::AccountId;
use crate::error::{StopError, error_chain};

/// How long a session lasts: STS's minimum, since a request rarely runs longer (a longer one takes a new
/// session of the same name before this runs out).
const SESSION_LENGTH: Duration = Duration::from_secs(900);
/// A session this close to expiry is taken again before the next call.
const REFRESH_BEFORE: Duration = Duration::from_secs(120);
/// Role sessions kept at once per role; past it the expired ones go, then the oldest.
const MAX_SESSIONS: usize = 64;
/// The prefix of every role session name; with a UUID audit id it is 49 characters, within STS's 64.
pub const SESSION_PREFIX: &str = "stop-gateway-";

/// The request being handled: its audit id (the session name), the function's own account, and the roles.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The request's audit id.
    pub audit_id: String,
    /// The function's own account, when known.
    pub home: Option<AccountId>,
    /// The policy's roles per account.
    pub roles: Arc<AccountRoles>,
}

tokio::task_local! {
    static SCOPE: Scope;
}

/// Runs `f` as the request `scope`: every call it makes in another account uses that request's session.
pub async fn within<F: Future>(scope: Scope, f: F) -> F::Output {
    SCOPE.scope(scope, f).await
}

/// How the request being handled reaches `account`. Outside any request (start-up, local tools) every call is
/// the function's own.
pub fn access(account: &AccountId) -> Access {
    SCOPE.try_with(|s| s.roles.access(s.home.as_ref(), account)).unwrap_or(Access::Own)
}

/// The role session name of a request: `stop-gateway-<audit id>`, cut to STS's 64 characters and its
/// `[\w+=,.@-]` grammar.
pub fn session_name(audit_id: &str) -> String {
    format!("{SESSION_PREFIX}{audit_id}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) { c } else { '-' })
        .take(64)
        .collect()
}

/// Credentials for one role: a session per request, from aws-config's `AssumeRoleProvider`.
#[derive(Debug)]
struct RoleSessions {
    role: AccountRole,
    sdk: SdkConfig,
    sessions: tokio::sync::Mutex<HashMap<String, Credentials>>,
}

impl RoleSessions {
    async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        let audit_id = SCOPE
            .try_with(|s| s.audit_id.clone())
            .map_err(|_| CredentialsError::not_loaded("no gateway request is in progress to name the role session"))?;
        let name = session_name(&audit_id);
        let mut sessions = self.sessions.lock().await;
        let fresh_until = SystemTime::now() + REFRESH_BEFORE;
        if let Some(credentials) = sessions.get(&name).filter(|c| c.expiry().is_none_or(|e| e > fresh_until)) {
            return Ok(credentials.clone());
        }
        let mut builder =
            AssumeRoleProvider::builder(&self.role.role_arn).session_name(&name).session_length(SESSION_LENGTH);
        if let Some(id) = &self.role.external_id {
            builder = builder.external_id(id);
        }
        let credentials = builder.configure(&self.sdk).build().await.provide_credentials().await?;
        let now = SystemTime::now();
        sessions.retain(|_, c| c.expiry().is_none_or(|e| e > now));
        if sessions.len() >= MAX_SESSIONS {
            sessions.clear();
        }
        sessions.insert(name, credentials.clone());
        Ok(credentials)
    }
}

impl ProvideCredentials for RoleSessions {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.credentials())
    }
}

/// A client for a region, with the credentials of another account's role (`Some`) or the function's own.
pub type MakeClient<C> = dyn Fn(&str, Option<SharedCredentialsProvider>) -> C + Send + Sync;

/// Every role's credentials provider, shared by all services' clients so a request assumes each role once.
#[derive(Debug, Default)]
pub struct RoleProviders {
    /// The function's own configuration, which assumes the roles; without it none can be.
    sdk: Option<SdkConfig>,
    roles: RwLock<HashMap<AccountRole, SharedCredentialsProvider>>,
}

impl RoleProviders {
    /// Roles assumed with the function's own configuration `sdk`.
    pub fn new(sdk: SdkConfig) -> Self {
        RoleProviders { sdk: Some(sdk), roles: RwLock::default() }
    }

    /// The credentials provider of `role`, kept per role.
    fn provider(&self, role: &AccountRole) -> Result<SharedCredentialsProvider, StopError> {
        if let Some(p) = self.roles.read().ok().and_then(|m| m.get(role).cloned()) {
            return Ok(p);
        }
        let Some(sdk) = self.sdk.clone() else {
            return Err(StopError::AssumeRoleFailed {
                role: role.role_arn.clone(),
                account: String::new(),
                retryable: false,
                source: "no credentials to assume roles with".into(),
            });
        };
        let sessions = RoleSessions { role: role.clone(), sdk, sessions: tokio::sync::Mutex::default() };
        let provider = SharedCredentialsProvider::new(sessions);
        if let Ok(mut roles) = self.roles.write() {
            roles.insert(role.clone(), provider.clone());
        }
        Ok(provider)
    }

    /// Takes the request's session in `account` now, if it needs one, so that a role the gateway cannot assume
    /// is reported as such (naming the role) rather than as the first call's failure.
    pub async fn prepare(&self, account: &AccountId) -> Result<(), StopError> {
        let role = match access(account) {
            Access::Own => return Ok(()),
            Access::NotConfigured => return Err(StopError::AccountNotConfigured(account.to_string())),
            Access::Assume(role) => role,
        };
        let provider = self.provider(&role)?;
        provider.provide_credentials().await.map(drop).map_err(|err| {
            let retryable = matches!(err, CredentialsError::ProviderTimedOut(_))
                || error_chain(&err).to_ascii_lowercase().contains("throttl");
            StopError::AssumeRoleFailed {
                role: role.role_arn.clone(),
                account: account.to_string(),
                retryable,
                source: Box::new(err),
            }
        })
    }
}

/// A service's clients per (account, region): the function's own account through `own`, others through their
/// role's sessions. Built on first use and kept, within a bound.
pub struct AccountClients<C> {
    own: super::regional::Regional<C>,
    make: Arc<MakeClient<C>>,
    providers: Arc<RoleProviders>,
    clients: RwLock<HashMap<(AccountRole, String), C>>,
}

impl<C: Clone + 'static> AccountClients<C> {
    /// The own account's clients from `make(region, None)`; other accounts' from `make(region, Some(role))`,
    /// with the role's provider from `providers`.
    pub fn new(
        home_region: &str,
        providers: Arc<RoleProviders>,
        make: impl Fn(&str, Option<SharedCredentialsProvider>) -> C + Send + Sync + 'static,
    ) -> Self {
        let make: Arc<MakeClient<C>> = Arc::new(make);
        let own_make = make.clone();
        AccountClients {
            own: super::regional::Regional::new(home_region, move |region: &str| own_make(region, None)),
            make,
            providers,
            clients: RwLock::default(),
        }
    }

    /// Takes the request's role session in `account` now (see [`RoleProviders::prepare`]).
    pub async fn prepare(&self, account: &AccountId) -> Result<(), StopError> {
        self.providers.prepare(account).await
    }

    /// The client for `account` and `region` in the request being handled; an account the policy names no
    /// role for is refused here too, before any call.
    pub fn client(&self, account: &AccountId, region: &str) -> Result<C, StopError> {
        let role = match access(account) {
            Access::Own => return Ok(self.own.client(region)),
            Access::NotConfigured => return Err(StopError::AccountNotConfigured(account.to_string())),
            Access::Assume(role) => role,
        };
        let key = (role, region.to_owned());
        if let Some(client) = self.clients.read().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(client);
        }
        let client = (self.make)(region, Some(self.providers.provider(&key.0)?));
        if let Ok(mut clients) = self.clients.write()
            && clients.len() < MAX_CACHED_REGIONS * 4
        {
            return Ok(clients.entry(key).or_insert(client).clone());
        }
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_carry_the_audit_id_within_sts_limits() {
        let id = "01935f3c-8a2b-7c4d-9e0f-123456789abc";
        assert_eq!(session_name(id), format!("stop-gateway-{id}"));
        assert_eq!(session_name(id).len(), 49);
        let odd = session_name(&"ä/x".repeat(40));
        assert_eq!(odd.len(), 64);
        assert!(odd.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b)), "{odd}");
    }

    #[tokio::test]
    async fn outside_a_request_every_account_is_the_functions_own_and_inside_the_policy_decides() {
        let other = AccountId::parse("222233334444").unwrap();
        assert_eq!(access(&other), Access::Own);
        let scope = Scope { audit_id: "a".into(), home: AccountId::parse("111122223333").ok(), roles: Arc::default() };
        assert_eq!(within(scope, async { access(&other) }).await, Access::NotConfigured);
    }
}
