"""A microblog's routes in Flask, the app of the issue's reproduction, behind the gateway in
TestIntegrationFlask. It answers every request it serves with the header X-Served-Withheld
naming the withheld item it served, if any: post 123, or the account someuser compared as an
accent- and case-insensitive database collation would (NFKD, no marks, casefold).

Usage: python3 flask_app.py <port>
"""
import sys
import unicodedata

from flask import Flask, make_response

app = Flask(__name__)


def fold(s):
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c) and unicodedata.category(c) != "Cf")
    return s.casefold().strip()


def answer(what, withheld):
    res = make_response(what + "\n")
    if withheld:
        res.headers["X-Served-Withheld"] = what
    return res


@app.route("/<account>/status/<int:post>")
@app.route("/<account>/status/<int:post>/<path:rest>")
def post(account, post, rest=""):
    return answer("post %d" % post, post == 123 or fold(account.lstrip("@")) == "someuser")


@app.route("/<account>")
@app.route("/<account>/<path:rest>")
def profile(account, rest=""):
    return answer("account %r" % account, fold(account.lstrip("@")) == "someuser")


@app.route("/banned")
def banned():
    return answer("path /banned", True)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
