//! Real TCP on loopback for the seam: a logical `host:port` becomes
//! `127.0.0.1:<its port in the PortMap>`; a name the map does not know
//! fails like an unresolvable host.

use std::io;
use std::rc::Rc;
use std::time::Duration;

use models::env::{BoxConn, BoxFut, Listener};

use crate::serve::ports::PortMap;

/// Opens a stream to `host:port` through the port map.
pub fn connect(ports: &Rc<PortMap>, host: &str, port: u16) -> BoxFut<'static, io::Result<BoxConn>> {
    let addr = ports.addr(host, port);
    let target = format!("{host}:{port}");
    Box::pin(async move {
        let addr = addr.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{target} is not in the port map"),
            )
        })?;
        let stream = tokio::net::TcpStream::connect(addr).await?;
        // SMTP and the frame protocols are request/reply: Nagle only adds
        // latency to every small reply.
        stream.set_nodelay(true)?;
        Ok(Box::new(stream) as BoxConn)
    })
}

/// Binds this host's `port` on loopback. A failure is also printed: a
/// gateway whose port is taken is otherwise silent about why nobody answers.
pub fn listen(
    ports: &Rc<PortMap>,
    me: &str,
    port: u16,
) -> BoxFut<'static, io::Result<Box<dyn Listener>>> {
    let addr = ports.addr(me, port);
    let me = me.to_string();
    Box::pin(async move {
        let addr = addr.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{me}:{port} is not in the port map"),
            )
        })?;
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => Ok(Box::new(RealListener { listener }) as Box<dyn Listener>),
            Err(e) => {
                eprintln!("{me}: cannot listen on {addr} (port {port} in the simulator): {e}");
                Err(e)
            }
        }
    })
}

struct RealListener {
    listener: tokio::net::TcpListener,
}

/// After a failed accept (out of file descriptors, say) the gateway's accept
/// loops try again at once; this pause keeps that from spinning a core.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

impl Listener for RealListener {
    fn accept(&self) -> BoxFut<'_, io::Result<(BoxConn, String)>> {
        Box::pin(async move {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    stream.set_nodelay(true)?;
                    // Peers on loopback have no host name; the address is
                    // what a real server would log.
                    Ok((Box::new(stream) as BoxConn, peer.to_string()))
                }
                Err(e) => {
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    Err(e)
                }
            }
        })
    }
}
