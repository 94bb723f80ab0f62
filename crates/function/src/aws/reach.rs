//! The accounts one request may act in: a value the stop flow builds for each request and hands to every
//! adapter call, so which credentials a call uses is in its signature, never in ambient state.
//!
//! The function's own account uses the function's own credentials. Another account is reached only through the
//! role the policy's `account_roles` names for it, assumed for this request in a session named
//! `stop-gateway-<audit id>` (so CloudTrail there names the audit record); an account the request does not
//! reach is `account_not_configured`, whatever calls it. The role's credentials are taken when the reach is
//! built, so a role that cannot be assumed is reported as such, naming it, before anything is called; after
//! that the SDK's own identity cache keeps them (and refreshes them for a long request) for as long as the
//! request lives, and no longer, so no request ever lends its session to another.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use tokio::time::Instant;

use stop_gateway_core::domain::accounts::{Access, AccountRole, AccountRoles};
use stop_gateway_core::domain::aws_ids::AccountId;
use stop_gateway_core::domain::failure::StopError;

/// How long a role session lasts: STS's minimum. A request that runs longer has it refreshed by the SDK's
/// identity cache, under the same session name.
const SESSION_LENGTH: Duration = Duration::from_secs(900);
/// The prefix of every role session name; with a UUID audit id it is 49 characters, within STS's 64.
pub const SESSION_PREFIX: &str = "stop-gateway-";

/// Builds each request's [`Reach`] with the function's own configuration, which assumes the roles.
#[derive(Debug, Clone)]
pub struct Accounts {
    sdk: SdkConfig,
}

/// What one request may act in.
#[derive(Debug)]
pub struct Reach {
    home: Option<AccountId>,
    assumed: HashMap<AccountId, SdkConfig>,
}

/// How a call reaches a target account.
#[derive(Debug, Clone, Copy)]
pub enum Via<'a> {
    /// The function's own account and credentials.
    Own,
    /// Another account, with this request's session of its role (a configuration carrying those credentials).
    Role(&'a SdkConfig),
}

impl Accounts {
    /// Roles are assumed with `sdk`, the function's own configuration.
    pub fn new(sdk: SdkConfig) -> Self {
        Accounts { sdk }
    }

    /// The reach of one request that acts in `targets` (accounts), from a function running in `home` (`None`
    /// when Lambda did not say: then every account needs a role). Each foreign account's role is assumed now,
    /// within `deadline`.
    pub async fn reach<'a>(
        &self,
        home: Option<&AccountId>,
        roles: &AccountRoles,
        targets: impl IntoIterator<Item = &'a AccountId>,
        audit_id: &str,
        deadline: Instant,
    ) -> Result<Reach, StopError> {
        let mut assumed = HashMap::new();
        for account in targets {
            if assumed.contains_key(account) {
                continue;
            }
            match roles.access(home, account) {
                Access::Own => {}
                Access::NotConfigured => return Err(StopError::AccountNotConfigured(account.to_string())),
                Access::Assume(role) => {
                    let sdk = self.assume(&role, account, audit_id, deadline).await?;
                    assumed.insert(account.clone(), sdk);
                }
            }
        }
        Ok(Reach { home: home.cloned(), assumed })
    }

    /// This request's session of `role`, as a configuration whose identity cache is its own.
    async fn assume(
        &self,
        role: &AccountRole,
        account: &AccountId,
        audit_id: &str,
        deadline: Instant,
    ) -> Result<SdkConfig, StopError> {
        let mut builder = AssumeRoleProvider::builder(&role.role_arn)
            .session_name(session_name(audit_id))
            .session_length(SESSION_LENGTH);
        if let Some(id) = &role.external_id {
            builder = builder.external_id(id);
        }
        let provider = builder.configure(&self.sdk).build().await;
        let failed = |transient, source| StopError::AssumeRoleFailed {
            role: role.role_arn.clone(),
            account: account.to_string(),
            transient,
            source,
        };
        let first = match tokio::time::timeout_at(deadline, provider.provide_credentials()).await {
            Ok(Ok(credentials)) => credentials,
            Ok(Err(err)) => return Err(failed(super::errors::credentials(&err).transient, Box::new(err))),
            Err(_) => return Err(failed(true, "STS did not answer before the invocation's deadline".into())),
        };
        let credentials = SharedCredentialsProvider::new(Session { first: Mutex::new(Some(first)), provider });
        Ok(self
            .sdk
            .to_builder()
            .credentials_provider(credentials)
            .identity_cache(IdentityCache::lazy().build())
            .build())
    }
}

impl Reach {
    /// A reach of the function's own account alone (`home`), for requests that act nowhere else.
    pub fn own(home: Option<AccountId>) -> Reach {
        Reach { home, assumed: HashMap::new() }
    }

    /// How this request reaches `account`; `account_not_configured` for any account it was not built for.
    pub fn via(&self, account: &AccountId) -> Result<Via<'_>, StopError> {
        if self.home.as_ref() == Some(account) {
            return Ok(Via::Own);
        }
        self.assumed.get(account).map(Via::Role).ok_or_else(|| StopError::AccountNotConfigured(account.to_string()))
    }
}

/// A role session's credentials: first those taken when the reach was built (proof the role can be assumed),
/// then the SDK's provider again whenever the identity cache finds them near expiry.
#[derive(Debug)]
struct Session {
    first: Mutex<Option<Credentials>>,
    provider: AssumeRoleProvider,
}

impl ProvideCredentials for Session {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        match self.first.lock().ok().and_then(|mut first| first.take()) {
            Some(credentials) => future::ProvideCredentials::ready(Ok(credentials)),
            None => self.provider.provide_credentials(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> AccountId {
        AccountId::parse(id).unwrap()
    }

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
    async fn a_reach_covers_only_the_accounts_it_was_built_for_and_has_no_default() {
        let accounts = Accounts::new(SdkConfig::builder().build());
        let (home, other) = (account("111122223333"), account("222233334444"));
        let far = Instant::now() + Duration::from_secs(60);
        let reach = accounts.reach(Some(&home), &AccountRoles::default(), [&home], "a", far).await.unwrap();
        assert!(matches!(reach.via(&home), Ok(Via::Own)));
        assert!(matches!(reach.via(&other), Err(StopError::AccountNotConfigured(_))), "no default means home");
        let unknown_home = Reach::own(None);
        assert!(matches!(unknown_home.via(&home), Err(StopError::AccountNotConfigured(_))));
        let refused = accounts.reach(Some(&home), &AccountRoles::default(), [&other], "a", far).await.unwrap_err();
        assert!(matches!(refused, StopError::AccountNotConfigured(a) if a == "222233334444"), "before any call");
    }
}
