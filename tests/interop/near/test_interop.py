"""NEAR E2EE interop: teep-rs (Rust, via the e2ee_near example) against nearai-inference-sdk.

Directions, for both key types (ed25519 v2 and ecdsa):
  A. SDK client encrypts a chat request        -> Rust server role opens it.
  B. Rust server role seals JSON and SSE bodies -> SDK client decrypts them.
  C. Rust client encrypts a chat request        -> tiny Python server (below) opens it.
  D. tiny Python server seals JSON and SSE      -> Rust client decrypts them.
  E. Tampered or misaddressed bodies fail on both sides.
The SDK has no server side, so C and D use a small server written here on top of the SDK's
own field primitives (encrypt_e2ee_text / decrypt_e2ee_text) keyed with the model secret.
Any mismatch raises; the process then exits non-zero.
"""

import asyncio
import copy
import json
import os
import subprocess
import sys

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
from nacl.signing import SigningKey

from nearai_inference_sdk.core.e2ee import (
    EcdsaE2eeClientKeyPair,
    Ed25519E2eeClientKeyPair,
    decrypt_e2ee_text,
    encrypt_e2ee_text,
)
from nearai_inference_sdk.core.e2ee_request import prepare_e2ee_chat_request
from nearai_inference_sdk.types.e2ee import E2eeModelKey

BIN = os.environ["TEEP_E2EE_NEAR_BIN"]
CHAT = "/v1/chat/completions"
failures = []


def rust(cmd, payload, expect_ok=True):
    p = subprocess.run([BIN, cmd], input=json.dumps(payload), capture_output=True, text=True)
    out = json.loads(p.stdout) if p.stdout.strip() else {"error": p.stderr}
    if expect_ok and p.returncode != 0:
        raise AssertionError(f"{cmd} failed: {out} {p.stderr}")
    if not expect_ok and p.returncode == 0:
        raise AssertionError(f"{cmd} accepted what it must refuse: {out}")
    return out


def check(name, got, want):
    if got != want:
        failures.append(name)
        print(f"MISMATCH {name}\n  got:  {json.dumps(got)[:400]}\n  want: {json.dumps(want)[:400]}")
    else:
        print(f"ok  {name}")


REQUEST = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi \u00e9\U0001F600"}], "name": "bob"},
        {"role": "assistant", "content": None, "reasoning_content": "because",
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ],
    "tools": [{"type": "function", "function": {"name": "f", "description": "does f",
                                                "parameters": {"type": "object", "properties": {}}}}],
    "tool_choice": {"type": "function", "function": {"name": "f"}},
}

RESPONSE = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Hello world!", "reasoning_content": "think",
                             "refusal": "",
                             "tool_calls": [{"id": "t1", "type": "function",
                                             "function": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}}]}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
}

CHUNKS = [
    {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
     "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
     "choices": [{"index": 0, "delta": {"reasoning_content": "hmm"}}]},
    {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
     "choices": [{"index": 0, "delta": {"content": "Hel"}}]},
    {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
     "choices": [{"index": 0, "delta": {"content": "lo \u00e9", "tool_calls": [
         {"index": 0, "id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}]},
    {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"total_tokens": 2}},
]


class ModelIdentity:
    """A model key pair, as the enclave would hold it."""

    def __init__(self, algo):
        self.algo = algo
        self.secret = os.urandom(32)
        if algo == "ed25519":
            sk = SigningKey(self.secret)
            self.public = bytes(sk.verify_key).hex()
            # The SDK's own decryptor, keyed with the model's X25519 secret, is the server's opener.
            self.opener = Ed25519E2eeClientKeyPair(public_key=self.public,
                                                   x25519_secret_key=bytes(sk.to_curve25519_private_key()))
        else:
            key = ec.derive_private_key(int.from_bytes(self.secret, "big"), ec.SECP256K1())
            self.public = key.public_key().public_bytes(serialization.Encoding.X962,
                                                        serialization.PublicFormat.UncompressedPoint).hex()
            self.opener = EcdsaE2eeClientKeyPair(public_key=self.public[2:], private_key=key)

    def args(self):
        return {"algo": self.algo, "model_secret": self.secret.hex()}


# ---- tiny Python server (C, D) -------------------------------------------------------------

def py_open_request(body, model):
    body = copy.deepcopy(body)
    dec = lambda s, f: decrypt_e2ee_text(s, model.opener, f)
    for m in body.get("messages", []):
        if isinstance(m.get("content"), str) and m["content"]:
            text = dec(m["content"], "content")
            try:
                parsed = json.loads(text)
                m["content"] = parsed if isinstance(parsed, list) else text
            except ValueError:
                m["content"] = text
        for k in ("reasoning_content", "reasoning", "refusal", "name"):
            if isinstance(m.get(k), str) and m[k]:
                m[k] = dec(m[k], k)
        for c in m.get("tool_calls") or []:
            for k in ("name", "arguments"):
                if isinstance(c.get("function", {}).get(k), str):
                    c["function"][k] = dec(c["function"][k], k)
    for t in body.get("tools") or []:
        f = t.get("function", {})
        for k in ("name", "description"):
            if isinstance(f.get(k), str):
                f[k] = dec(f[k], k)
        if isinstance(f.get("parameters"), str):
            f["parameters"] = json.loads(dec(f["parameters"], "parameters"))
    tc = body.get("tool_choice")
    if isinstance(tc, dict) and isinstance(tc.get("function"), dict):
        tc["function"]["name"] = dec(tc["function"]["name"], "name")
    return body


def py_seal_message(m, client_key):
    enc = lambda s: encrypt_e2ee_text(s, client_key)
    for k in ("content", "reasoning_content", "reasoning", "refusal"):
        if isinstance(m.get(k), str) and m[k]:
            m[k] = enc(m[k])
    for c in m.get("tool_calls") or []:
        for k in ("name", "arguments"):
            if isinstance(c.get("function", {}).get(k), str) and c["function"][k]:
                c["function"][k] = enc(c["function"][k])


def py_seal_response(body, client_key, member):
    body = copy.deepcopy(body)
    for ch in body.get("choices", []):
        py_seal_message(ch[member], client_key)
    return body


# ---- the directions ------------------------------------------------------------------------

async def sdk_prepare(model):
    request = httpx.Request("POST", "https://example.invalid" + CHAT, json=REQUEST)
    return await prepare_e2ee_chat_request(request, E2eeModelKey(signing_algo=model.algo, public_key=model.public))


async def sdk_decrypt(prepared, body, content_type):
    resp = httpx.Response(200, headers={"content-type": content_type}, content=body.encode(),
                          request=prepared.request)
    out = await prepared.decrypt_response(resp)
    return await out.aread()


def sse_events(raw):
    events = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(l[6:] if l.startswith("data: ") else l[5:] for l in block.split("\n") if l.startswith("data:"))
        if data and data != "[DONE]":
            events.append(json.loads(data))
    return events


async def main():
    for algo in ("ed25519", "ecdsa"):
        model = ModelIdentity(algo)
        # A. SDK client -> Rust server.
        prepared = await sdk_prepare(model)
        sent = json.loads(prepared.request.content)
        headers = dict(prepared.request.headers)
        assert sent["messages"][0]["content"] != "Be brief.", "SDK did not encrypt"
        out = rust("server-open", {**model.args(), "headers": headers, "path": CHAT,
                                   "body": prepared.request.content.decode()})
        check(f"{algo} A sdk->rust request", out["plain"], REQUEST)

        # B. Rust server -> SDK client (JSON, then SSE).
        sealed = rust("server-seal", {**model.args(), "headers": headers, "path": CHAT,
                                      "seed": os.urandom(32).hex(), "body": RESPONSE})["body"]
        assert "Hello world!" not in sealed
        plain = json.loads(await sdk_decrypt(prepared, sealed, "application/json"))
        check(f"{algo} B rust->sdk json", plain, RESPONSE)
        sealed = rust("server-seal", {**model.args(), "headers": headers, "path": CHAT,
                                      "seed": os.urandom(32).hex(), "chunks": CHUNKS})["body"]
        assert "hmm" not in sealed
        raw = (await sdk_decrypt(prepared, sealed, "text/event-stream")).decode()
        check(f"{algo} B rust->sdk stream", sse_events(raw), CHUNKS)

        # E1. A body sealed to another client key fails in the SDK.
        other = await sdk_prepare(model)
        try:
            await sdk_decrypt(other, sealed, "text/event-stream")
            failures.append(f"{algo} E1")
            print(f"MISMATCH {algo} E1 SDK decrypted a stream sealed to another key")
        except Exception:
            print(f"ok  {algo} E1 sdk refuses a stream sealed to another key")

        # C. Rust client -> Python server.
        enc = rust("client-encrypt", {"algo": algo, "model_key": model.public, "path": CHAT,
                                      "seed": os.urandom(32).hex(), "body": json.dumps(REQUEST)})
        body = json.loads(enc["body"])
        assert body["messages"][0]["content"] != "Be brief."
        check(f"{algo} C rust->py request", py_open_request(body, model), {**REQUEST, "stream": True})
        client_key = E2eeModelKey(signing_algo=algo, public_key=enc["headers"]["X-Client-Pub-Key"])
        check(f"{algo} C headers", enc["headers"].get("X-Encryption-Version"), "2" if algo == "ed25519" else None)

        # D. Python server -> Rust client (JSON, then SSE).
        dec = {"algo": algo, "client_secret": enc["client_secret"], "path": CHAT}
        sealed = py_seal_response(RESPONSE, client_key, "message")
        out = rust("client-decrypt", {**dec, "body": json.dumps(sealed), "stream": False})
        check(f"{algo} D py->rust json", out["plain"], RESPONSE)
        stream = "".join("data: " + json.dumps(py_seal_response(c, client_key, "delta")) + "\n\n" for c in CHUNKS)
        stream += "data: [DONE]\n\n"
        out = rust("client-decrypt", {**dec, "body": stream, "stream": True})
        check(f"{algo} D py->rust stream", out["events"], CHUNKS)

        # E2. Tampering, truncation, plaintext and a foreign key all fail in Rust.
        i = stream.index('"reasoning_content": "') + 60
        flipped = stream[:i] + ("0" if stream[i] != "0" else "1") + stream[i + 1:]
        rust("client-decrypt", {**dec, "body": flipped, "stream": True}, expect_ok=False)
        rust("client-decrypt", {**dec, "body": stream.replace("data: [DONE]\n\n", ""), "stream": True}, expect_ok=False)
        plain_stream = "".join("data: " + json.dumps(c) + "\n\n" for c in CHUNKS) + "data: [DONE]\n\n"
        rust("client-decrypt", {**dec, "body": plain_stream, "stream": True}, expect_ok=False)
        other = rust("client-encrypt", {"algo": algo, "model_key": model.public, "path": CHAT,
                                        "seed": os.urandom(32).hex(), "body": json.dumps(REQUEST)})
        rust("client-decrypt", {**dec, "client_secret": other["client_secret"], "body": stream, "stream": True},
             expect_ok=False)
        print(f"ok  {algo} E2 rust refuses tampered, truncated, plaintext and misaddressed streams")

    if failures:
        print(f"FAILED: {len(failures)} interop mismatch(es): {failures}")
        sys.exit(1)
    print("NEAR E2EE interop: all checks passed")


asyncio.run(main())
