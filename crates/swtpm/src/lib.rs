//! Test support: start `swtpm` (TPM 2.0, socket mode) on free loopback ports in a temporary
//! state directory, kill it on drop, and speak raw TPM2 commands to it: `TPM2_PCR_Extend`
//! with a password session at any locality, `TPM2_PCR_Read`, and the H-CRTM sequence.
//! tpm2-tools reach the same TPM through [`Swtpm::tcti`].
//!
//! TPM command structures are big-endian (TPM 2.0 Part 1 §18).
//!
//! [`tpm12::Swtpm12`] is the same for a TPM 1.2 (swtpm without `--tpm2`), with an owner
//! and SRK, raw `TPM_Extend`/`TPM_PcrRead` and `TPM_Seal`/`TPM_Unseal` to PCR values.

pub mod tpm12;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why the simulator could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// swtpm or swtpm_ioctl is missing or failed to start.
    #[error("cannot run {tool}: {detail}")]
    Tool {
        /// The program.
        tool: &'static str,
        /// What happened.
        detail: String,
    },
    /// Socket I/O failed.
    #[error("swtpm socket: {0}")]
    Io(#[from] std::io::Error),
    /// The TPM answered with an error code.
    #[error("TPM command 0x{command:x} failed with response code 0x{rc:x}")]
    Tpm {
        /// Command code.
        command: u32,
        /// Response code.
        rc: u32,
    },
    /// A TPM 1.2 command failed; `rc` is a `TPM_RESULT` (Part 2 §16), named in the message.
    #[error("TPM 1.2 {} failed with {} (0x{rc:x})", tpm12::ordinal_name(*ordinal), tpm12::rc_name(*rc))]
    Tpm12 {
        /// `TPM_COMMAND_CODE`.
        ordinal: u32,
        /// `TPM_RESULT`.
        rc: u32,
    },
    /// The request cannot be expressed (a PCR index out of range, a field too long).
    #[error("bad TPM request: {0}")]
    Request(String),
    /// The TPM's answer is not what the command returns.
    #[error("malformed TPM response: {0}")]
    Response(String),
}

/// A running swtpm, killed when dropped.
pub struct Swtpm {
    child: Child,
    _dir: tempfile::TempDir,
    /// TPM command port.
    pub port: u16,
    /// Control channel port.
    pub ctrl: u16,
}

/// Two adjacent free ports: the tpm2-tss swtpm TCTI expects the control port at `port + 1`.
fn free_ports() -> Result<(u16, u16), SimError> {
    for _ in 0..50 {
        let a = TcpListener::bind("127.0.0.1:0")?;
        let p = a.local_addr()?.port();
        if p < u16::MAX && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return Ok((p, p + 1));
        }
    }
    Err(SimError::Tool {
        tool: "swtpm",
        detail: "no two adjacent free loopback ports".into(),
    })
}

const TPM_ST_NO_SESSIONS: u16 = 0x8001;
const TPM_ST_SESSIONS: u16 = 0x8002;
const TPM_CC_PCR_EXTEND: u32 = 0x182;
const TPM_CC_PCR_READ: u32 = 0x17E;
const TPM_RS_PW: u32 = 0x4000_0009;

impl Swtpm {
    /// Start a TPM 2.0 that has run `TPM2_Startup(CLEAR)` and allows locality changes.
    pub fn start() -> Result<Swtpm, SimError> {
        Swtpm::spawn(
            tempfile::tempdir()?,
            &["--tpm2"],
            "not-need-init,startup-clear",
        )
    }

    /// Start `swtpm socket` on the state in `dir` with the family switch `mode` (`--tpm2`
    /// or nothing for TPM 1.2) and `--flags`, letting the control channel set the locality.
    pub(crate) fn spawn(
        dir: tempfile::TempDir,
        mode: &[&str],
        flags: &str,
    ) -> Result<Swtpm, SimError> {
        let mut last = String::new();
        // Ports are picked free and then handed over, so another process may take one in
        // between; a few attempts make that race harmless.
        for _ in 0..5 {
            let (port, ctrl) = free_ports()?;
            let mut child = Command::new("swtpm")
                .arg("socket")
                .args(mode)
                .arg("--tpmstate")
                .arg(format!("dir={}", dir.path().display()))
                .args([
                    "--server",
                    &format!("type=tcp,port={port},bindaddr=127.0.0.1"),
                ])
                .args([
                    "--ctrl",
                    &format!("type=tcp,port={ctrl},bindaddr=127.0.0.1"),
                ])
                .args(["--flags", flags])
                .args(["--locality", "allow-set-locality"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| SimError::Tool {
                    tool: "swtpm",
                    detail: e.to_string(),
                })?;
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut up = false;
            while Instant::now() < deadline {
                if let Ok(Some(st)) = child.try_wait() {
                    last = format!("exited with {st}");
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && TcpStream::connect(("127.0.0.1", ctrl)).is_ok()
                {
                    up = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if up {
                return Ok(Swtpm {
                    child,
                    _dir: dir,
                    port,
                    ctrl,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        Err(SimError::Tool {
            tool: "swtpm",
            detail: format!("did not start: {last}"),
        })
    }

    /// The `TPM2TOOLS_TCTI` / `-T` value that reaches this TPM.
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    fn ioctl(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<(), SimError> {
        let mut cmd = Command::new("swtpm_ioctl");
        cmd.args(["--tcp", &format!("127.0.0.1:{}", self.ctrl)])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = cmd.spawn().map_err(|e| SimError::Tool {
            tool: "swtpm_ioctl",
            detail: e.to_string(),
        })?;
        if let Some(data) = stdin {
            child.stdin.take().expect("piped stdin").write_all(data)?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(SimError::Tool {
                tool: "swtpm_ioctl",
                detail: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(())
    }

    /// Set the locality later commands on the command port run at. (tpm2-tools reset it to
    /// 0 when they connect.)
    pub fn set_locality(&self, locality: u8) -> Result<(), SimError> {
        self.ioctl(&["-l", &locality.to_string()], None)
    }

    /// Run the H-CRTM sequence (`_TPM_Hash_Start/Data/End`) over `data`: PCR0 (TPM 1.2
    /// style) or, after startup, a dynamic launch: PCR17 = H(0 || H(data)) in every bank.
    pub fn hash_sequence(&self, data: &[u8]) -> Result<(), SimError> {
        self.ioctl(&["-h", "-"], Some(data))
    }

    /// Send one raw command and return the response parameters after the 10-byte header.
    pub fn command(&self, raw: &[u8]) -> Result<Vec<u8>, SimError> {
        let (rc, body) = self.transact(raw)?;
        if rc != 0 {
            let command = raw
                .get(6..10)
                .map_or(0, |c| u32::from_be_bytes(c.try_into().expect("4 bytes")));
            return Err(SimError::Tpm { command, rc });
        }
        Ok(body)
    }

    /// Send one raw command (TPM 1.2 and 2.0 share the header: tag u16, size u32,
    /// code u32, big-endian) and return the response code and what follows the header.
    pub(crate) fn transact(&self, raw: &[u8]) -> Result<(u32, Vec<u8>), SimError> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.write_all(raw)?;
        let mut head = [0u8; 10];
        s.read_exact(&mut head)?;
        let size = u32::from_be_bytes(head[2..6].try_into().expect("4 bytes")) as usize;
        let rc = u32::from_be_bytes(head[6..10].try_into().expect("4 bytes"));
        if !(10..=1 << 20).contains(&size) {
            return Err(SimError::Response(format!("size {size}")));
        }
        let mut body = vec![0u8; size - 10];
        s.read_exact(&mut body)?;
        Ok((rc, body))
    }

    /// `TPM2_PCR_Extend(pcr, digests)` with an empty password session, at the current
    /// locality. `digests` are `(TPM_ALG_ID, digest)`.
    pub fn pcr_extend(&self, pcr: u32, digests: &[(u16, &[u8])]) -> Result<(), SimError> {
        let mut params = (digests.len() as u32).to_be_bytes().to_vec();
        for (alg, d) in digests {
            params.extend_from_slice(&alg.to_be_bytes());
            params.extend_from_slice(d);
        }
        // Authorization area: TPM_RS_PW, empty nonce, continueSession, empty password.
        let mut auth = TPM_RS_PW.to_be_bytes().to_vec();
        auth.extend_from_slice(&[0, 0, 1, 0, 0]);
        let mut cmd = Vec::new();
        cmd.extend_from_slice(&TPM_ST_SESSIONS.to_be_bytes());
        cmd.extend_from_slice(&[0; 4]);
        cmd.extend_from_slice(&TPM_CC_PCR_EXTEND.to_be_bytes());
        cmd.extend_from_slice(&pcr.to_be_bytes());
        cmd.extend_from_slice(&(auth.len() as u32).to_be_bytes());
        cmd.extend_from_slice(&auth);
        cmd.extend_from_slice(&params);
        let n = cmd.len() as u32;
        cmd[2..6].copy_from_slice(&n.to_be_bytes());
        self.command(&cmd).map(|_| ())
    }

    /// `TPM2_PCR_Read` of one PCR in one bank.
    pub fn pcr_read(&self, alg: u16, pcr: u32) -> Result<Vec<u8>, SimError> {
        let mut bits = [0u8; 3];
        bits[(pcr / 8) as usize] = 1 << (pcr % 8);
        let mut cmd = Vec::new();
        cmd.extend_from_slice(&TPM_ST_NO_SESSIONS.to_be_bytes());
        cmd.extend_from_slice(&[0; 4]);
        cmd.extend_from_slice(&TPM_CC_PCR_READ.to_be_bytes());
        cmd.extend_from_slice(&1u32.to_be_bytes());
        cmd.extend_from_slice(&alg.to_be_bytes());
        cmd.push(3);
        cmd.extend_from_slice(&bits);
        let n = cmd.len() as u32;
        cmd[2..6].copy_from_slice(&n.to_be_bytes());
        let r = self.command(&cmd)?;
        // pcrUpdateCounter u32, TPML_PCR_SELECTION (4 + 6), TPML_DIGEST count u32, size u16, bytes.
        let bad = || SimError::Response(format!("PCR_Read: {} bytes", r.len()));
        let count = u32::from_be_bytes(r.get(14..18).ok_or_else(bad)?.try_into().expect("4"));
        if count != 1 {
            return Err(SimError::Response(format!(
                "PCR_Read returned {count} digests (bank 0x{alg:04x} absent?)"
            )));
        }
        let len = u16::from_be_bytes(r.get(18..20).ok_or_else(bad)?.try_into().expect("2"));
        Ok(r.get(20..20 + len as usize).ok_or_else(bad)?.to_vec())
    }

    /// Flush leftover transient objects, loaded sessions and saved sessions:
    /// swtpm has no resource manager, so they would fill its slots.
    pub fn flush_contexts(&self, cwd: &Path) {
        for kind in ["-t", "-l", "-s"] {
            // Nothing to flush is fine; a real failure shows in the next call.
            let _ = self.tool("tpm2_flushcontext", &[kind], cwd);
        }
    }

    /// Seal `secret.dat` (in `cwd`) under an ECC primary to the policy
    /// digest in `policy.bin`, and load it as `key.ctx` for
    /// [`Swtpm::unseal_with_pcr_policy`].
    pub fn seal_to_policy_file(&self, cwd: &Path) -> Result<(), SimError> {
        self.tool(
            "tpm2_createprimary",
            &["-C", "o", "-G", "ecc", "-c", "prim.ctx"],
            cwd,
        )?;
        self.flush_contexts(cwd);
        let create = [
            "-C",
            "prim.ctx",
            "-L",
            "policy.bin",
            "-i",
            "secret.dat",
            "-u",
            "key.pub",
            "-r",
            "key.priv",
        ];
        self.tool("tpm2_create", &create, cwd)?;
        self.flush_contexts(cwd);
        let load = [
            "-C", "prim.ctx", "-u", "key.pub", "-r", "key.priv", "-c", "key.ctx",
        ];
        self.tool("tpm2_load", &load, cwd)?;
        self.flush_contexts(cwd);
        Ok(())
    }

    /// Unseal `key.ctx` (in `cwd`) through a policy session satisfied by
    /// TPM2_PolicyPCR over `selection` (tpm2-tools syntax, `sha256:17,18`).
    pub fn unseal_with_pcr_policy(&self, cwd: &Path, selection: &str) -> Result<Vec<u8>, SimError> {
        self.tool(
            "tpm2_startauthsession",
            &["--policy-session", "-S", "session.ctx"],
            cwd,
        )?;
        let r = self
            .tool(
                "tpm2_policypcr",
                &["-S", "session.ctx", "-l", selection],
                cwd,
            )
            .and_then(|_| {
                self.tool(
                    "tpm2_unseal",
                    &["-c", "key.ctx", "-p", "session:session.ctx"],
                    cwd,
                )
            });
        self.flush_contexts(cwd);
        r
    }

    /// Run a tpm2-tools program against this TPM; returns stdout, or an error with stderr.
    pub fn tool(&self, program: &str, args: &[&str], cwd: &Path) -> Result<Vec<u8>, SimError> {
        let out = Command::new(program)
            .args(args)
            .env("TPM2TOOLS_TCTI", self.tcti())
            .current_dir(cwd)
            .output()
            .map_err(|e| SimError::Tool {
                tool: "tpm2-tools",
                detail: format!("{program}: {e}"),
            })?;
        if !out.status.success() {
            return Err(SimError::Tool {
                tool: "tpm2-tools",
                detail: format!(
                    "{program} {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
        Ok(out.stdout)
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
