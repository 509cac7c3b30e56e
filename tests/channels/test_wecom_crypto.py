"""WeCom callback crypto against the official vectors, wechatpy, and hostile input."""

from __future__ import annotations

import base64
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.channels.wecom.crypto import (
    DecryptError,
    MalformedError,
    ReceiveIdError,
    SignatureError,
    WeComCrypto,
    WeComCryptoError,
    build_encrypted_xml,
    parse_callback_xml,
)

# Set A: the WeCom doc 加解密方案说明 (also in the comments of sbzhu/weworkapi_python callback/Sample.py)
A = WeComCrypto("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7")
A_ECHOSTR = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
A_POST_BODY = (
    b"<xml> <ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA["
    b"RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUp"
    b"j911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue"
    b"06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+"
    b"3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH"
    b"27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8"
    b"R07+qN+E7Q==]]></Encrypt>\n   <AgentID><![CDATA[218]]></AgentID>\n   </xml>"
)

# Set B: sbzhu/weworkapi_python callback/Sample.py
B = WeComCrypto("hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo", "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt", "ww1436e0e65a779aee")
B_ECHOSTR = "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="
B_POST_BODY = (
    b"<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n<Encrypt><![CDATA["
    b"Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGz"
    b"BhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3J"
    b"WcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQH"
    b"E7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYu"
    b"PDGOCI8jmnKiypE+]]></Encrypt>\n<AgentID><![CDATA[1000002]]></AgentID>\n</xml>"
)


def test_official_vector_a_url_verification_returns_echo_plaintext() -> None:
    plain = A.verify_url("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780", A_ECHOSTR)
    assert plain == "1616140317555161061"


def test_official_vector_a_post_decrypts_to_hello_from_mycreate() -> None:
    envelope = parse_callback_xml(A_POST_BODY)
    assert envelope["AgentID"] == "218"
    inner = A.decrypt("477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", envelope["Encrypt"])
    msg = parse_callback_xml(inner.encode())
    assert msg["FromUserName"] == "mycreate"
    assert msg["MsgType"] == "text"
    assert msg["Content"] == "hello"
    assert msg["MsgId"] == "4561255354251345929"


def test_official_vector_b_url_verification_returns_echo_plaintext() -> None:
    plain = B.verify_url("012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb", "1476416373", "47744683", B_ECHOSTR)
    assert plain == "1288432023552776189"


def test_official_vector_b_post_decrypts_to_chinese_text() -> None:
    envelope = parse_callback_xml(B_POST_BODY)
    inner = B.decrypt("0c3914025cb4b4d68103f6bfc8db550f79dcf48e", "1476422779", "1597212914", envelope["Encrypt"])
    msg = parse_callback_xml(inner.encode())
    assert msg["FromUserName"] == "ChenJiaShun"
    assert msg["Content"] == "你好"
    assert msg["AgentID"] == "1000002"


@pytest.mark.parametrize("text", ["", "x", "督办" * 500, "<xml><Content><![CDATA[a]]></Content></xml>", "a" * 11])
def test_encrypt_then_decrypt_round_trips(text: str) -> None:
    encrypted, signature = B.encrypt(text, "nonce1", "1700000000")
    assert len(base64.b64decode(encrypted)) % 32 == 0
    assert B.decrypt(signature, "1700000000", "nonce1", encrypted) == text


def test_encrypt_with_fixed_random_is_deterministic() -> None:
    one = A.encrypt("hello", "n", "1", random16=b"0123456789abcdef")
    two = A.encrypt("hello", "n", "1", random16=b"0123456789abcdef")
    three = A.encrypt("hello", "n", "1")
    assert one == two
    assert one != three


def test_callback_envelope_round_trips_through_build_and_parse() -> None:
    encrypted, signature = B.encrypt("<xml><Content>hi</Content></xml>", "987", "1700000001")
    body = build_encrypted_xml(encrypted, signature, "1700000001", "987", to_user="ww1", agent_id="1000002")
    envelope = parse_callback_xml(body)
    assert envelope["ToUserName"] == "ww1"
    assert envelope["AgentID"] == "1000002"
    assert envelope["MsgSignature"] == signature
    assert B.decrypt(signature, "1700000001", "987", envelope["Encrypt"]) == "<xml><Content>hi</Content></xml>"


def test_cdata_terminator_in_a_field_survives() -> None:
    envelope = parse_callback_xml(build_encrypted_xml("e", "s", "t", "n", to_user="a]]>b"))
    assert envelope["ToUserName"] == "a]]>b"


def test_wechatpy_decrypts_what_we_encrypt() -> None:
    wechatpy_crypto = pytest.importorskip("wechatpy.enterprise.crypto")
    theirs = wechatpy_crypto.WeChatCrypto(B.token, B.encoding_aes_key, B.receive_id)
    encrypted, signature = B.encrypt("<xml><Content>督办</Content></xml>", "42", "1700000002")
    body = build_encrypted_xml(encrypted, signature, "1700000002", "42")
    assert theirs.decrypt_message(body.decode(), signature, "1700000002", "42") == (
        "<xml><Content>督办</Content></xml>"
    )
    assert theirs.check_signature(signature, "1700000002", "42", encrypted) == "<xml><Content>督办</Content></xml>"


def test_we_decrypt_what_wechatpy_encrypts() -> None:
    wechatpy_crypto = pytest.importorskip("wechatpy.enterprise.crypto")
    theirs = wechatpy_crypto.WeChatCrypto(A.token, A.encoding_aes_key, A.receive_id)
    reply = theirs.encrypt_message("<xml><Content>已完成</Content></xml>", "77", "1700000003")
    envelope = parse_callback_xml(reply.encode())
    assert envelope["TimeStamp"] == "1700000003"
    plain = A.decrypt(envelope["MsgSignature"], "1700000003", "77", envelope["Encrypt"])
    assert plain == "<xml><Content>已完成</Content></xml>"


def test_tampered_signature_is_refused() -> None:
    with pytest.raises(SignatureError):
        A.verify_url("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd4", "1409659589", "263014780", A_ECHOSTR)


def test_replayed_ciphertext_with_other_timestamp_is_refused() -> None:
    with pytest.raises(SignatureError):
        A.verify_url("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659590", "263014780", A_ECHOSTR)


def test_payload_for_another_corp_is_refused() -> None:
    other = WeComCrypto(B.token, B.encoding_aes_key, "ww0000000000000000")
    encrypted, signature = other.encrypt("hello", "1", "2")
    with pytest.raises(ReceiveIdError):
        B.decrypt(signature, "2", "1", encrypted)


def _raw_ciphertext(crypto: WeComCrypto, padded: bytes) -> str:
    encryptor = Cipher(algorithms.AES(crypto.key), modes.CBC(crypto.key[:16])).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


@pytest.mark.parametrize(
    "tail",
    [
        b"\x00" * 32,  # pad byte 0
        b"\x21" * 32,  # pad byte 33 > block
        b"\x05" * 28 + b"\x04\x05\x05\x05",  # inconsistent pad bytes
    ],
)
def test_bad_padding_is_refused(tail: bytes) -> None:
    body = b"r" * 16 + struct.pack(">I", 5) + b"hello" + B.receive_id.encode()
    body += b"\x00" * (-len(body) % 32)
    encrypted = _raw_ciphertext(B, body + tail)
    with pytest.raises(DecryptError):
        B.decrypt(B.signature("1", "2", encrypted), "1", "2", encrypted)


def test_length_field_beyond_plaintext_is_refused() -> None:
    body = b"r" * 16 + struct.pack(">I", 10_000) + b"hello" + B.receive_id.encode()
    pad = 32 - len(body) % 32
    encrypted = _raw_ciphertext(B, body + bytes([pad]) * pad)
    with pytest.raises(DecryptError):
        B.decrypt(B.signature("1", "2", encrypted), "1", "2", encrypted)


@pytest.mark.parametrize("encrypted", [B_ECHOSTR[:-6], B_ECHOSTR[:40], "", "not base64!", B_ECHOSTR[:-4]])
def test_truncated_or_junk_ciphertext_is_refused(encrypted: str) -> None:
    with pytest.raises(DecryptError):
        B.decrypt(B.signature("1", "2", encrypted), "1", "2", encrypted)


def test_bad_encoding_aes_key_is_refused() -> None:
    with pytest.raises(WeComCryptoError):
        WeComCrypto("t", "short", "ww1")


def test_secrets_stay_out_of_repr() -> None:
    assert "QDG6eK" not in repr(A)
    assert "jWmYm7" not in repr(A)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<xml><Encrypt>&lol4;</Encrypt></xml>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><Encrypt>&xxe;</Encrypt></xml>"""

BARE_DTD = (
    b"""<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://example.invalid/x.dtd"><xml><Encrypt>e</Encrypt></xml>"""
)


@pytest.mark.parametrize(
    "body",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, BARE_DTD, b"", b"not xml", b"<xml><Encrypt>x</xml>", b"\xff\xfe<"],
)
def test_hostile_or_junk_xml_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_callback_xml(body)
