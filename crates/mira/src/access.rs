//! `mira access apply FILE` and `mira token create USER`: provisioning of sites, AE titles
//! and users, and API tokens for scripts and integrations.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use mira_access::{AccessFile, Directory, TokenKind};

use crate::config::Config;

/// `mira access …`.
#[derive(Debug, Args)]
pub struct AccessArgs {
    #[command(subcommand)]
    command: AccessCommand,
}

#[derive(Debug, Subcommand)]
enum AccessCommand {
    /// Creates or updates the sites, AE titles and users of a TOML file (see the
    /// mira-access crate's `provision` module for its form).
    Apply {
        /// The file.
        file: PathBuf,
    },
    /// Deactivates a user and revokes their tokens.
    Deactivate {
        /// Username.
        username: String,
    },
}

/// `mira token …`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issues an API token for a user and prints it (once: only its digest is kept).
    Create {
        /// Username.
        username: String,
        /// What the token is for (shown in the audit log).
        #[arg(long, default_value = "api")]
        label: String,
        /// Days until it expires.
        #[arg(long, default_value_t = 90)]
        days: u64,
    },
}

async fn directory(config: &Config) -> anyhow::Result<Directory> {
    // provisioning may come before the first `serve` or `import`
    let catalogue = config.open_catalogue(false).await?;
    Ok(Directory::new(catalogue.pool().clone()))
}

pub async fn run_access(config: Config, args: AccessArgs) -> anyhow::Result<ExitCode> {
    let directory = directory(&config).await?;
    match args.command {
        AccessCommand::Apply { file } => {
            let parsed = AccessFile::load(&file)?;
            let applied = mira_access::apply(&directory, &parsed)
                .await
                .with_context(|| format!("cannot apply {}", file.display()))?;
            for user in &applied.literal_passwords {
                eprintln!(
                    "warning: {}: the password of {user} is written in the file; use password_env or password_file outside demonstrations",
                    file.display()
                );
            }
            println!(
                "applied {}: {} sites, {} AE titles, {} users",
                file.display(),
                applied.sites,
                applied.ae_titles,
                applied.users
            );
        }
        AccessCommand::Deactivate { username } => {
            directory.deactivate_user(&username).await?;
            println!("deactivated {username}; their tokens are revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run_token(config: Config, args: TokenArgs) -> anyhow::Result<ExitCode> {
    let directory = directory(&config).await?;
    match args.command {
        TokenCommand::Create {
            username,
            label,
            days,
        } => {
            let token = directory
                .issue_token_for(
                    &username,
                    TokenKind::Api,
                    &label,
                    days.saturating_mul(86_400),
                )
                .await?;
            println!("{token}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
