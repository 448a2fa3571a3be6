"""A stand-in for Hugging Face's OpenID Connect provider, on loopback, for Space sign-in tests.

It speaks the parts of OpenID Connect that Gradio's Space sign-in (authlib) uses: the discovery
document (with the signing key inline), /authorize (signs in `next_user` at once and sends the
browser back with a code) and /token (trades the code for an access token and a signed ID token
whose claims are the user's profile, as the Hub's are). `env()` gives the variables a Space with
`hf_oauth: true` sets, pointed here.
"""

import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from joserfc import jwt
from joserfc.jwk import OctKey

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret"


class FakeHubSignIn:
    def __init__(self):
        self.key = OctKey.import_key(secrets.token_bytes(32), {"kid": "test-key"})
        self.next_user: dict = {"preferred_username": "alice", "name": "Alice", "orgs": []}
        self.codes: dict[str, tuple[str, dict]] = {}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _json(self, body: dict):
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    self._json(provider.discovery())
                elif url.path == "/authorize":
                    code = secrets.token_urlsafe(12)
                    provider.codes[code] = (query.get("nonce", ""), dict(provider.next_user))
                    back = query["redirect_uri"] + ("&" if "?" in query["redirect_uri"] else "?") + \
                        urllib.parse.urlencode({"code": code, "state": query.get("state", "")})
                    self.send_response(302)
                    self.send_header("Location", back)
                    self.end_headers()
                else:
                    self.send_error(404)

            def do_POST(self):
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                if self.path != "/token" or form.get("code") not in provider.codes:
                    self.send_error(400)
                    return
                nonce, user = provider.codes.pop(form["code"])
                self._json(provider.token(nonce, user))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def discovery(self) -> dict:
        return {"issuer": self.url, "authorization_endpoint": self.url + "/authorize",
                "token_endpoint": self.url + "/token", "id_token_signing_alg_values_supported": ["HS256"],
                "jwks": {"keys": [self.key.as_dict(private=True)]}}

    def token(self, nonce: str, user: dict) -> dict:
        now = int(time.time())
        name = user["preferred_username"]
        claims = {"iss": self.url, "aud": CLIENT_ID, "sub": f"id-{name}", "iat": now, "exp": now + 3600,
                  "auth_time": now, "nonce": nonce, "profile": f"https://huggingface.co/{name}",
                  "picture": "", **user}
        id_token = jwt.encode({"alg": "HS256", "kid": "test-key"}, claims, self.key)
        return {"access_token": "hf_oauth_" + secrets.token_urlsafe(8), "token_type": "bearer",
                "expires_in": 3600, "scope": "openid profile", "id_token": id_token}

    def env(self, space_id: str = "owner/studio") -> dict[str, str]:
        return {"SYSTEM": "spaces", "SPACE_ID": space_id, "SPACE_AUTHOR_NAME": space_id.split("/")[0],
                "OAUTH_CLIENT_ID": CLIENT_ID, "OAUTH_CLIENT_SECRET": CLIENT_SECRET,
                "OAUTH_SCOPES": "openid profile", "OPENID_PROVIDER_URL": self.url}

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
