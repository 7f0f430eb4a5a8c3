//! Reading a response body as it arrives: the request's deadline, size limit, concurrency slot
//! and redaction stay in force until the last byte.

use std::collections::VecDeque;
use std::time::Duration;

use chitin_secrets::{MIN_REDACTED_LEN, Redactor, SecretValue};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::EgressError;
use crate::client::{EgressClient, send_error};

/// Largest chunk [`BodyStream::next_chunk`] returns; larger pieces are split.
pub const MAX_CHUNK_BYTES: usize = 64 * 1024;

/// A response whose body is read piece by piece, from [`EgressClient::fetch_stream`].
///
/// `headers` and `final_url` are redacted as in [`EgressClient::fetch`]. Redaction can change
/// the body's length, so `Content-Length` is left out whenever the plugin has secrets to redact.
#[derive(Debug)]
pub struct StreamingResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The URL of the last hop, in placeholder form.
    pub final_url: String,
    pub body: BodyStream,
}

/// The body of a [`StreamingResponse`].
///
/// While it is open it holds one of the plugin's concurrent-request slots; the slot is given
/// back at the end of the body, on an error, or when the stream is dropped. The request's
/// overall deadline keeps running: a read past it fails with [`EgressError::Timeout`] (a pause
/// between chunks is fine as long as the deadline has not passed).
pub struct BodyStream {
    client: EgressClient,
    state: State,
    /// Redacted bytes ready for the plugin, each at most [`MAX_CHUNK_BYTES`].
    ready: VecDeque<Vec<u8>>,
    holdback: Holdback,
    /// Bytes received from the network so far (before redaction).
    received: u64,
    limit: u64,
    deadline: Instant,
    timeout: Duration,
    /// `scheme://host[:port]` of the last hop, for error messages.
    origin: String,
}

enum State {
    /// Still reading from the network.
    Open {
        response: reqwest::Response,
        _slot: OwnedSemaphorePermit,
    },
    /// The network body is complete; `ready` holds what is left to hand out.
    Drained,
    /// Failed; every later read returns this error.
    Failed(EgressError),
}

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Open { .. } => "open",
            State::Drained => "drained",
            State::Failed(_) => "failed",
        };
        f.debug_struct("BodyStream")
            .field("state", &state)
            .field("received", &self.received)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl BodyStream {
    pub(crate) fn new(
        client: EgressClient,
        response: reqwest::Response,
        slot: OwnedSemaphorePermit,
        deadline: Instant,
        timeout: Duration,
        origin: String,
    ) -> BodyStream {
        let limit = client.policy().limits.max_response_bytes;
        BodyStream {
            client,
            state: State::Open {
                response,
                _slot: slot,
            },
            ready: VecDeque::new(),
            holdback: Holdback::default(),
            received: 0,
            limit,
            deadline,
            timeout,
            origin,
        }
    }

    /// The next chunk (at most [`MAX_CHUNK_BYTES`]; larger ones are split), `Ok(None)` at the
    /// end.
    ///
    /// Every secret value (as sent raw or percent-encoded) is redacted, also when it arrives
    /// split across network reads: the last few bytes of each read, which might be the start of
    /// a value, are held back until more data or the end arrives. After the end this keeps
    /// returning `Ok(None)`; after an error it keeps returning that error.
    ///
    /// Cancel-safe: dropping the returned future before it completes loses no data.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, EgressError> {
        loop {
            let response = match &mut self.state {
                State::Failed(e) => return Err(e.clone()),
                State::Drained => return Ok(self.ready.pop_front()),
                State::Open { response, .. } => response,
            };
            if Instant::now() >= self.deadline {
                return Err(self.fail(EgressError::Timeout(self.timeout)));
            }
            if let Some(chunk) = self.ready.pop_front() {
                return Ok(Some(chunk));
            }
            // The only await: a cancelled read leaves every buffer as it was.
            match tokio::time::timeout_at(self.deadline, response.chunk()).await {
                Err(_) => return Err(self.fail(EgressError::Timeout(self.timeout))),
                Ok(Err(e)) => return Err(self.fail(send_error(&self.origin, e))),
                Ok(Ok(None)) => {
                    // Releases the connection and the slot.
                    self.state = State::Drained;
                    let rest = self.holdback.finish(self.client.redactor());
                    self.queue(rest);
                }
                Ok(Ok(Some(bytes))) => {
                    self.received = self.received.saturating_add(bytes.len() as u64);
                    if self.received > self.limit {
                        return Err(self.fail(EgressError::TooLarge { limit: self.limit }));
                    }
                    let out =
                        self.holdback
                            .push(self.client.needles(), self.client.redactor(), &bytes);
                    self.queue(out);
                }
            }
        }
    }

    /// Bytes received from the network so far, before redaction.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    fn queue(&mut self, bytes: Vec<u8>) {
        if bytes.len() <= MAX_CHUNK_BYTES {
            if !bytes.is_empty() {
                self.ready.push_back(bytes);
            }
            return;
        }
        self.ready
            .extend(bytes.chunks(MAX_CHUNK_BYTES).map(<[u8]>::to_vec));
    }

    /// Ends the stream with `err` (redacted), releasing the connection and the slot.
    fn fail(&mut self, err: EgressError) -> EgressError {
        let err = self.client.failed(err);
        self.ready.clear();
        self.holdback = Holdback::default();
        self.state = State::Failed(err.clone());
        err
    }
}

/// The byte strings the redactor looks for, kept so that a stream knows which of its bytes
/// might be the start of one.
pub(crate) struct Needles {
    values: Vec<SecretValue>,
    longest: usize,
}

impl Needles {
    /// The values among `forms` that [`Redactor::new`] keeps.
    pub(crate) fn new(forms: &[(String, SecretValue)]) -> Needles {
        let mut values: Vec<SecretValue> = forms
            .iter()
            .map(|(_, v)| v.clone())
            .filter(|v| v.len() >= MIN_REDACTED_LEN)
            .collect();
        values.sort_by(|a, b| a.expose().cmp(b.expose()));
        values.dedup();
        let longest = values.iter().map(SecretValue::len).max().unwrap_or(0);
        Needles { values, longest }
    }

    /// The earliest start of an occurrence in `buf` that begins before `cut` and ends after it.
    /// Occurrences starting before `cut` must lie wholly inside `buf`.
    fn straddling(&self, buf: &[u8], cut: usize) -> Option<usize> {
        let from = cut.saturating_sub(self.longest.saturating_sub(1));
        (from..cut).find(|&start| {
            self.values
                .iter()
                .any(|v| start + v.len() > cut && buf[start..].starts_with(v.expose().as_bytes()))
        })
    }
}

/// Raw bytes not yet handed out because a secret value might continue past them.
#[derive(Default)]
struct Holdback {
    carry: Vec<u8>,
    /// Every cut point in `1..=chained` of `carry` lies inside an occurrence, so none of them
    /// may be used (remembered so that a long run of overlapping occurrences is not walked
    /// again on every read).
    chained: usize,
}

impl Holdback {
    /// Takes in `data` and returns the redacted bytes that are safe to deliver now.
    ///
    /// The last `longest - 1` bytes are held back, since they might begin a value whose rest
    /// has not arrived; the cut is then moved back past any occurrence it would split, so every
    /// occurrence is redacted whole, exactly as [`Redactor::redact_bytes`] does on the full
    /// body.
    fn push(&mut self, needles: &Needles, redactor: &Redactor, data: &[u8]) -> Vec<u8> {
        if needles.values.is_empty() {
            return data.to_vec();
        }
        self.carry.extend_from_slice(data);
        let hold = needles.longest - 1;
        let Some(candidate) = self.carry.len().checked_sub(hold) else {
            return Vec::new();
        };
        // Anything starting before `candidate` ends within `carry` (values are at most
        // `hold + 1` long), so whether it is an occurrence is already known.
        let mut cut = candidate;
        while cut > 0 {
            if cut <= self.chained {
                cut = 0;
                break;
            }
            match needles.straddling(&self.carry, cut) {
                Some(start) => cut = start,
                None => break,
            }
        }
        if cut == 0 {
            self.chained = self.chained.max(candidate);
            return Vec::new();
        }
        let out = redactor.redact_bytes(&self.carry[..cut]).into_owned();
        self.carry.drain(..cut);
        self.chained = candidate - cut;
        out
    }

    /// The end of the body: everything held back, redacted.
    fn finish(&mut self, redactor: &Redactor) -> Vec<u8> {
        let carry = std::mem::take(&mut self.carry);
        self.chained = 0;
        redactor.redact_bytes(&carry).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(secrets: &[(&str, &str)]) -> (Needles, Redactor) {
        let forms: Vec<(String, SecretValue)> = secrets
            .iter()
            .map(|(n, v)| (n.to_string(), SecretValue::new(*v)))
            .collect();
        (Needles::new(&forms), Redactor::new(forms))
    }

    fn streamed(needles: &Needles, redactor: &Redactor, pieces: &[&[u8]]) -> Vec<u8> {
        let mut h = Holdback::default();
        let mut out = Vec::new();
        for p in pieces {
            out.extend(h.push(needles, redactor, p));
        }
        out.extend(h.finish(redactor));
        out
    }

    const SECRETS: &[(&str, &str)] = &[
        ("A", "secret-alpha-1"),
        ("A", "secret%2Falpha"),
        ("B", "alpha-1-bravo"),
        ("C", "zzzzzz"),
        ("SHORT", "abc"),
    ];

    const TEXT: &[u8] = b"x secret-alpha-1 y secret-alpha-1-bravo z secret%2Falpha \
        zzzzzzzzzzzzz abc secret-alph end secret-alpha-1";

    #[test]
    fn every_two_and_three_way_split_matches_whole_body_redaction() {
        let (needles, redactor) = setup(SECRETS);
        let whole = redactor.redact_bytes(TEXT).into_owned();
        assert_eq!(redactor.contains_secret(&whole), None);
        assert_eq!(
            String::from_utf8_lossy(&whole),
            "x [REDACTED:A] y [REDACTED:A] z [REDACTED:A] [REDACTED:C] abc secret-alph end \
             [REDACTED:A]"
        );
        for i in 0..=TEXT.len() {
            assert_eq!(
                streamed(&needles, &redactor, &[&TEXT[..i], &TEXT[i..]]),
                whole,
                "split at {i}"
            );
            for j in i..=TEXT.len() {
                assert_eq!(
                    streamed(&needles, &redactor, &[&TEXT[..i], &TEXT[i..j], &TEXT[j..]]),
                    whole,
                    "split at {i} and {j}"
                );
            }
        }
        let bytes: Vec<&[u8]> = TEXT.chunks(1).collect();
        assert_eq!(streamed(&needles, &redactor, &bytes), whole);
    }

    #[test]
    fn long_run_of_overlapping_occurrences_is_held_whole() {
        let (needles, redactor) = setup(&[("C", "zzzzzz")]);
        let mut h = Holdback::default();
        let mut out = Vec::new();
        out.extend(h.push(&needles, &redactor, b"ab"));
        for _ in 0..1000 {
            out.extend(h.push(&needles, &redactor, b"zzz"));
        }
        out.extend(h.push(&needles, &redactor, b"tail-and-more"));
        out.extend(h.finish(&redactor));
        assert_eq!(out, b"ab[REDACTED:C]tail-and-more");
    }

    #[test]
    fn without_secrets_nothing_is_held_back() {
        let (needles, redactor) = setup(&[("SHORT", "abc")]);
        let mut h = Holdback::default();
        assert_eq!(h.push(&needles, &redactor, b"ab"), b"ab");
        assert_eq!(h.finish(&redactor), b"");
    }

    #[test]
    fn stream_types_can_live_in_a_resource_table() {
        fn send_static<T: Send + 'static>() {}
        send_static::<BodyStream>();
        send_static::<StreamingResponse>();
    }
}
