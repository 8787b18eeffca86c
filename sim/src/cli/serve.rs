//! The `serve` and (hidden) `serve-node` commands: argument parsing and the
//! step from arguments to a loaded, validated config. Bad input — a config
//! that does not parse or validate, an unknown host or region — is one
//! message on stderr and exit 2.

use std::path::PathBuf;

use crate::exit_code::EXIT_BAD_INPUT;
use crate::serve::config::ServeConfig;
use crate::serve::{launcher, node, roles};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Deployment config (JSON; every field optional, unknown fields refused).
    /// Default: 3 regions on 3 clouds, tenant example.test (alice, bob),
    /// SMTP on 127.0.0.1:2525, :2526 and :2527.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where hosts keep their spools, quarantines, Maildirs and event logs.
    #[arg(long, value_name = "DIR", default_value = "mailsim-data")]
    pub data: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct ServeNodeArgs {
    /// The deployment config (the launcher passes DATA/config.json).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// A host to run in this process (repeatable).
    #[arg(long = "host", value_name = "NAME")]
    pub hosts: Vec<String>,
    /// Run every gateway and scanner of this region (repeatable).
    #[arg(long = "region", value_name = "NAME")]
    pub regions: Vec<String>,
    /// Exit when stdin reaches EOF (the launcher's pipe: children end with it).
    #[arg(long)]
    pub watch_stdin: bool,
}

pub fn serve(args: &ServeArgs) -> i32 {
    match ServeConfig::load(args.config.as_deref()) {
        Ok(config) => launcher::run(&config, &args.data),
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_BAD_INPUT
        }
    }
}

pub fn serve_node(args: &ServeNodeArgs) -> i32 {
    let config = match ServeConfig::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let mut hosts = args.hosts.clone();
    for region in &args.regions {
        if config.gateway.region(region).is_none() {
            eprintln!("error: no region {region:?} in the config");
            return EXIT_BAD_INPUT;
        }
        hosts.extend(roles::region_hosts(&config, region));
    }
    node::run(&config, &args.data, &hosts, args.watch_stdin)
}
