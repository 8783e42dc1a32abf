"""Interop of teep's Rust Chutes E2EE with `chutes-e2ee` 0.1.0 (PyPI, by Chutes; pqcrypto's
PQClean ML-KEM-768, pyca/cryptography HKDF and ChaCha20-Poly1305).

The package is a client only. The instance (server) role on the Python side is a small
server written here from the package's own primitives (`chutes_e2ee.crypto.derive_key`,
`chacha_encrypt`/`chacha_decrypt`) and pqcrypto's ML-KEM-768, exactly as the package's client
expects an instance to behave.

Directions checked, non-stream and stream:
  1. Rust client -> Python instance: the instance decrypts the Rust request; its answers
     (blob and SSE) are decrypted by the Rust client.
  2. Python client (chutes_e2ee.crypto.build_e2ee_request) -> Rust instance: the Rust instance
     decrypts the request; its answers are decrypted by the package (decrypt_response and the
     transport's own SSE path _iter_sse_from_e2ee).
  3. Tampered inputs are refused on both sides.
Exits non-zero on any mismatch.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys

from chutes_e2ee import crypto
from chutes_e2ee.transport import _iter_sse_from_e2ee
from pqcrypto.kem.ml_kem_768 import decrypt as mlkem_decrypt
from pqcrypto.kem.ml_kem_768 import encrypt as mlkem_encrypt
from pqcrypto.kem.ml_kem_768 import generate_keypair as mlkem_generate_keypair

BIN = os.environ["E2EE_CHUTES_BIN"]
FAILURES: list[str] = []


def check(cond: bool, what: str) -> None:
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


def rust(cmd: str, payload: dict, expect_ok: bool = True) -> dict:
    proc = subprocess.run([BIN, cmd], input=json.dumps(payload).encode(), capture_output=True, check=False)
    out = json.loads(proc.stdout or b"{}")
    if expect_ok and proc.returncode != 0:
        raise SystemExit(f"rust {cmd} failed: {out} {proc.stderr.decode(errors='replace')[-2000:]}")
    if not expect_ok:
        out["_status"] = proc.returncode
    return out


# ---- a minimal Python instance built from the package's primitives ----

def py_instance_decrypt_request(blob: bytes, sk: bytes) -> dict:
    kem_ct, nonce, body = blob[:1088], blob[1088:1100], blob[1100:]
    key = crypto.derive_key(mlkem_decrypt(sk, kem_ct), kem_ct, crypto.INFO_REQ)
    plain = crypto.chacha_decrypt(key, nonce, body[:-16], body[-16:])
    return json.loads(gzip.decompress(plain))


def py_instance_response_blob(client_pk: bytes, payload: bytes) -> bytes:
    kem_ct, ss = mlkem_encrypt(client_pk)
    key = crypto.derive_key(ss, kem_ct, crypto.INFO_RESP)
    nonce = os.urandom(12)
    ct, tag = crypto.chacha_encrypt(key, nonce, gzip.compress(payload))
    return kem_ct + nonce + ct + tag


def py_instance_stream(client_pk: bytes, chunks: list[str]) -> str:
    kem_ct, ss = mlkem_encrypt(client_pk)
    key = crypto.derive_key(ss, kem_ct, crypto.INFO_STREAM)
    events = [f'data: {json.dumps({"e2e_init": base64.b64encode(kem_ct).decode()})}\n\n']
    for i, chunk in enumerate(chunks):
        usage = {"prompt_tokens": 3, "completion_tokens": i + 1, "total_tokens": i + 4}
        events.append(f"data: {json.dumps({'usage': usage})}\n\n")
        nonce = os.urandom(12)
        ct, tag = crypto.chacha_encrypt(key, nonce, chunk.encode())
        events.append(f'data: {json.dumps({"e2e": base64.b64encode(nonce + ct + tag).decode()})}\n\n')
    return "".join(events)


CHUNKS = [
    'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n',
    'data: {"choices":[{"index":0,"delta":{"content":"lo \\u00e9\\u2603"}}]}\n\n',
    "data: [DONE]\n\n",
]
ANSWER = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi! \u00e9\u2603"}}]}
REQUEST = {"model": "zai-org/GLM-5-TEE", "messages": [{"role": "user", "content": "hi \u2603"}], "stream": True, "temperature": 0.25}


def rust_client_to_python_instance() -> None:
    pk, sk = mlkem_generate_keypair()
    pk_b64 = base64.b64encode(pk).decode()
    base = {"rng_seed_hex": "11" * 32, "instance_pk": pk_b64, "body": json.dumps(REQUEST), "endpoint": "chat"}
    first = rust("client", base)
    req = py_instance_decrypt_request(base64.b64decode(first["request_b64"]), sk)
    check(req.get("e2e_response_pk") == first["response_pk"], "python instance reads the Rust client's response key")
    check({k: v for k, v in req.items() if k != "e2e_response_pk"} == REQUEST, "python instance decrypts the Rust request body")
    check(first["stream"] is True, "Rust client reports stream=true")
    client_pk = base64.b64decode(req["e2e_response_pk"])

    blob = py_instance_response_blob(client_pk, json.dumps(ANSWER).encode())
    got = rust("client", {**base, "response_b64": base64.b64encode(blob).decode()})
    check(json.loads(got["plaintext"]) == ANSWER, "Rust client decrypts the python instance's non-stream blob")

    sse = py_instance_stream(client_pk, CHUNKS)
    got = rust("client", {**base, "sse": sse})
    check(got["chunks"] == CHUNKS, "Rust client decrypts the python instance's stream, chunks verbatim")

    # Tampering is refused by the Rust client.
    bad = bytearray(blob)
    bad[-1] ^= 1
    out = rust("client", {**base, "response_b64": base64.b64encode(bytes(bad)).decode()}, expect_ok=False)
    check(out["_status"] == 3 and "authentication" in out.get("error", ""), "Rust client refuses a tampered blob")
    lines = sse.split("\n\n")
    e2e_idx = next(i for i, l in enumerate(lines) if '"e2e":' in l)
    payload = json.loads(lines[e2e_idx][6:])
    raw = bytearray(base64.b64decode(payload["e2e"]))
    raw[20] ^= 0x40
    lines[e2e_idx] = "data: " + json.dumps({"e2e": base64.b64encode(bytes(raw)).decode()})
    out = rust("client", {**base, "sse": "\n\n".join(lines)}, expect_ok=False)
    check(out["_status"] == 3 and "chunk" in out.get("error", ""), "Rust client refuses a tampered stream chunk")
    truncated = "".join(s + "\n\n" for s in sse.split("\n\n")[:-2] if s)
    out = rust("client", {**base, "sse": truncated}, expect_ok=False)
    check(out["_status"] == 3, "Rust client refuses a stream without its [DONE] chunk")
    # Encrypted to another instance key: the python instance cannot read it.
    _, other_sk = mlkem_generate_keypair()
    try:
        py_instance_decrypt_request(base64.b64decode(first["request_b64"]), other_sk)
        check(False, "a request for one instance is unreadable by another")
    except Exception:  # noqa: BLE001 - InvalidTag from cryptography
        check(True, "a request for one instance is unreadable by another")


def python_client_to_rust_instance() -> None:
    key_seed = "42" * 64
    pk_b64 = rust("server-keygen", {"key_seed_hex": key_seed})["public_b64"]
    built = crypto.build_e2ee_request(pk_b64, REQUEST)
    served = rust(
        "server",
        {
            "key_seed_hex": key_seed,
            "rng_seed_hex": "22" * 32,
            "request_b64": base64.b64encode(built.blob).decode(),
            "response_json": json.dumps(ANSWER),
            "chunks": CHUNKS,
        },
    )
    req = json.loads(served["request_json"])
    check({k: v for k, v in req.items() if k != "e2e_response_pk"} == REQUEST, "Rust instance decrypts the package's request")
    check(served["stream"] is True, "Rust instance reads stream=true")
    check(served["client_pk"] == req["e2e_response_pk"], "Rust instance reads the package's response key")

    answer = crypto.decrypt_response(base64.b64decode(served["blob_b64"]), built.response_sk)
    check(answer == ANSWER, "package decrypt_response reads the Rust instance's blob")

    # The package's own SSE path (it appends \n\n to each chunk and passes usage lines through).
    raw = served["sse"].encode()
    pieces = [raw[i : i + 97] for i in range(0, len(raw), 97)]
    out = b"".join(_iter_sse_from_e2ee(iter(pieces), built.response_sk)).decode()
    rebuilt = [seg for seg in out.split("\n\n") if seg and '"usage"' not in seg]
    check(rebuilt == [c[: -2] for c in CHUNKS], "package stream path decrypts every Rust chunk in order")
    check(out.count('"usage"') == len(CHUNKS), "package sees one plaintext usage event per chunk")
    # And chunk by chunk with the package's primitives: byte-exact plaintexts.
    events = [json.loads(l[6:]) for l in served["sse"].split("\n\n") if l.startswith("data: ")]
    key = crypto.decrypt_stream_init(built.response_sk, events[0]["e2e_init"])
    plain = [crypto.decrypt_stream_chunk(e["e2e"], key) for e in events if "e2e" in e]
    check(plain == CHUNKS, "package decrypt_stream_chunk yields the exact Rust chunks")

    # Tampered package request is refused by the Rust instance.
    bad = bytearray(built.blob)
    bad[1100] ^= 1
    out = rust(
        "server",
        {"key_seed_hex": key_seed, "rng_seed_hex": "22" * 32, "request_b64": base64.b64encode(bytes(bad)).decode(), "response_json": "{}", "chunks": []},
        expect_ok=False,
    )
    check(out["_status"] == 3 and "authentication" in out.get("error", ""), "Rust instance refuses a tampered request")


def non_stream_embeddings_both_ways() -> None:
    body = {"model": "m", "input": ["a", "b"]}
    pk, sk = mlkem_generate_keypair()
    base = {"rng_seed_hex": "33" * 32, "instance_pk": base64.b64encode(pk).decode(), "body": json.dumps(body), "endpoint": "embeddings"}
    first = rust("client", base)
    check(first["stream"] is False, "Rust client reports stream=false for embeddings")
    req = py_instance_decrypt_request(base64.b64decode(first["request_b64"]), sk)
    emb = {"data": [{"embedding": [0.5, -1.25], "index": 0}]}
    blob = py_instance_response_blob(base64.b64decode(req["e2e_response_pk"]), json.dumps(emb).encode())
    got = rust("client", {**base, "response_b64": base64.b64encode(blob).decode()})
    check(json.loads(got["plaintext"]) == emb, "embeddings round trip Rust client <-> python instance")


def main() -> int:
    rust_client_to_python_instance()
    python_client_to_rust_instance()
    non_stream_embeddings_both_ways()
    if FAILURES:
        print(f"\n{len(FAILURES)} interop check(s) FAILED", file=sys.stderr)
        return 1
    print("\nall Chutes E2EE interop checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
