//! nginx in front of `kaika serve` processes, from a configuration written for the run: the reverse
//! proxy of the multi-instance test (`tests/cluster.rs`) and of `bench cluster`. Shared by path
//! (`#[path]`), since a test helper cannot be a dependency of the bench.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running nginx; killed when dropped.
pub struct Nginx {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

/// The nginx binary: `KAIKA_TEST_NGINX`, or Debian's.
fn nginx_binary() -> PathBuf {
    if let Ok(path) = std::env::var("KAIKA_TEST_NGINX") {
        return path.into();
    }
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!("nginx is needed here (scripts/test installs it; or set KAIKA_TEST_NGINX)")
        })
}

impl Nginx {
    /// Starts nginx on `port`, balancing over `upstreams` (`http://host:port`), with its files in `dir`.
    /// A request that finds an instance gone (refused or cut connection, 502) is sent to the next one,
    /// POSTs too: Kaika's writes are idempotent (tickets, `Idempotency-Key`).
    pub fn start(dir: &Path, port: u16, upstreams: &[String]) -> Self {
        let servers: String = upstreams
            .iter()
            .map(|url| {
                let address = url.trim_start_matches("http://");
                format!("    server {address} max_fails=1 fail_timeout=3s;\n")
            })
            .collect();
        let d = dir.display();
        let config = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             upstream kaika {{\n{servers}    keepalive 64;\n  }}\n\
             server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://kaika;\n\
             proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_set_header Host $host;\n\
             proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
             proxy_set_header X-Forwarded-Proto $scheme;\n\
             proxy_next_upstream error timeout http_502 non_idempotent;\n      proxy_connect_timeout 1s;\n\
             proxy_read_timeout 30s;\n    }}\n  }}\n}}\n"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(dir.join("nginx.log")).unwrap();
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("nginx-error.log"))
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
