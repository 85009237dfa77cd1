//! The demo's scenarios as data: what the page asks for, how the demo API answers, and
//! what a browser does with it. The API server, the page and the traffic generator all
//! read this one table.

use serde::Serialize;

/// `fetch()`'s credentials option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Credentials {
    SameOrigin,
    Include,
}

/// A response header value the demo API sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// This text.
    Lit(&'static str),
    /// The request's `Origin`, echoed (or `*` when the request had none).
    ReflectOrigin,
    /// The URL of this scenario's redirect target on the second API origin.
    RedirectTarget,
    /// The demo page's own origin.
    PageOrigin,
}

/// One response of the demo API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: &'static [(&'static str, Value)],
    pub body: &'static str,
}

/// What a browser does with the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Allowed,
    Blocked,
}

/// One demo request and the API's behaviour for it.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub id: &'static str,
    pub title: &'static str,
    /// What is wrong (or right) with the server, in one line.
    pub note: &'static str,
    pub method: &'static str,
    pub headers: &'static [(&'static str, &'static str)],
    pub body: Option<&'static str>,
    pub credentials: Credentials,
    /// A response header the page tries to read.
    pub read_header: Option<&'static str>,
    /// Answer to the preflight (`OPTIONS`); `None`: the API answers OPTIONS with 404.
    pub preflight: Option<Reply>,
    pub actual: Reply,
    /// Answer at the redirect target on the second API origin, if the actual redirects.
    pub redirect_target: Option<Reply>,
    pub expect: Expect,
}

impl Scenario {
    /// Path of the scenario on the API origin.
    pub fn path(&self) -> String {
        format!("/api/{}", self.id)
    }

    /// Path of the redirect target on the second API origin.
    pub fn target_path(&self) -> String {
        format!("/api/{}/target", self.id)
    }
}

const JSON: (&str, Value) = ("Content-Type", Value::Lit("application/json"));
const ANY: (&str, Value) = ("Access-Control-Allow-Origin", Value::Lit("*"));
const REFLECT: (&str, Value) = ("Access-Control-Allow-Origin", Value::ReflectOrigin);
const CREDS: (&str, Value) = ("Access-Control-Allow-Credentials", Value::Lit("true"));
const VARY: (&str, Value) = ("Vary", Value::Lit("Origin"));
const OK_BODY: &str = "{\"ok\":true}";

const fn ok(headers: &'static [(&'static str, Value)]) -> Reply {
    Reply {
        status: 200,
        headers,
        body: OK_BODY,
    }
}

/// Every scenario, in the order the page runs them.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        id: "simple-ok",
        title: "Simple GET, Access-Control-Allow-Origin: *",
        note: "correct: public data for any origin",
        method: "GET",
        headers: &[],
        body: None,
        credentials: Credentials::SameOrigin,
        read_header: None,
        preflight: None,
        actual: ok(&[JSON, ANY]),
        redirect_target: None,
        expect: Expect::Allowed,
    },
    Scenario {
        id: "missing-acao",
        title: "Simple GET, no Access-Control-Allow-Origin",
        note: "broken: the server never opted in to CORS",
        method: "GET",
        headers: &[],
        body: None,
        credentials: Credentials::SameOrigin,
        read_header: None,
        preflight: None,
        actual: ok(&[JSON]),
        redirect_target: None,
        expect: Expect::Blocked,
    },
    Scenario {
        id: "wrong-origin",
        title: "Simple GET, ACAO names another origin",
        note: "broken: allows https://app.example.com only",
        method: "GET",
        headers: &[],
        body: None,
        credentials: Credentials::SameOrigin,
        read_header: None,
        preflight: None,
        actual: ok(&[
            JSON,
            (
                "Access-Control-Allow-Origin",
                Value::Lit("https://app.example.com"),
            ),
        ]),
        redirect_target: None,
        expect: Expect::Blocked,
    },
    Scenario {
        id: "star-with-credentials",
        title: "GET with cookies, ACAO: *",
        note: "broken: '*' is not allowed when credentials are included",
        method: "GET",
        headers: &[],
        body: None,
        credentials: Credentials::Include,
        read_header: None,
        preflight: None,
        actual: ok(&[JSON, ANY, CREDS]),
        redirect_target: None,
        expect: Expect::Blocked,
    },
    Scenario {
        id: "credentials-ok",
        title: "GET with cookies, origin reflected + Allow-Credentials",
        note: "correct: exact origin, credentials true, Vary: Origin",
        method: "GET",
        headers: &[],
        body: None,
        credentials: Credentials::Include,
        read_header: None,
        preflight: None,
        actual: ok(&[JSON, REFLECT, CREDS, VARY]),
        redirect_target: None,
        expect: Expect::Allowed,
    },
    Scenario {
        id: "put-json-ok",
        title: "PUT with a JSON body (preflighted)",
        note: "correct: preflight allows PUT and Content-Type",
        method: "PUT",
        headers: &[("Content-Type", "application/json")],
        body: Some("{\"name\":\"corscope\"}"),
        credentials: Credentials::SameOrigin,
        read_header: None,
        preflight: Some(Reply {
            status: 204,
            headers: &[
                REFLECT,
                ("Access-Control-Allow-Methods", Value::Lit("GET, PUT")),
                ("Access-Control-Allow-Headers", Value::Lit("Content-Type")),
                ("Access-Control-Max-Age", Value::Lit("600")),
                VARY,
            ],
            body: "",
        }),
        actual: ok(&[JSON, REFLECT, VARY]),
        redirect_target: None,
        expect: Expect::Allowed,
    },
    Scenario {
        id: "method-not-allowed",
        title: "DELETE, preflight allows GET and POST only",
        note: "broken: DELETE missing from Access-Control-Allow-Methods",
        method: "DELETE",
        headers: &[],
        body: None,
        credentials: Credentials::SameOrigin,
        read_header: None,
        preflight: Some(Reply {
            status: 204,
            headers: &[
                ANY,
                ("Access-Control-Allow-Methods", Value::Lit("GET, POST")),
            ],
            body: "",
        }),
        actual: ok(&[JSON, ANY]),
        redirect_target: None,
        expect: Expect::Blocked,
    },
    Scenario {
        id: "header-not-allowed",
        title: "GET with an X-Api-Key header",
        note: "broken: X-Api-Key missing from Access-Control-Allow-Headers",
        method: "GET",
        headers: &[("X-Api-Key", "demo-key")],
        body: None,
        credentials: Credentials::SameOrigin,
        read_header: None,
        preflight: Some(Reply {
            status: 204,
            headers: &[
                ANY,
                ("Access-Control-Allow-Headers", Value::Lit("Content-Type")),
            ],
            body: "",
        }),
        actual: ok(&[JSON, ANY]),
        redirect_target: None,
        expect: Expect::Blocked,
    },
    Scenario {
        id: "custom-header-ok",
        title: "GET with an X-Request-Id header",
        note: "correct: the preflight lists X-Request-Id",
        method: "GET",
        headers: &[("X-Request-Id", "42")],
        body: None,
        credentials: Credentials::SameOrigin,
        read_header: None,
        preflight: Some(Reply {
            status: 204,
            headers: &[
                ANY,
                ("Access-Control-Allow-Headers", Value::Lit("X-Request-Id")),
            ],
            body: "",
        }),
        actual: ok(&[JSON, ANY]),
        redirect_target: None,
        expect: Expect::Allowed,
    },
    Scenario {
        id: "preflight-404",
        title: "PATCH, the API has no OPTIONS route",
        note: "broken: the preflight gets 404",
        method: "PATCH",
        headers: &[],
        body: Some("{}"),
        credentials: Credentials::SameOrigin,
        read_header: None,
        preflight: None,
        actual: ok(&[JSON, ANY]),
        redirect_target: None,
        expect: Expect::Blocked,
    },
    Scenario {
        id: "preflight-redirect",
        title: "PUT, the preflight is redirected",
        note: "broken: a preflight must not redirect (e.g. a trailing-slash redirect)",
        method: "PUT",
        headers: &[],
        body: Some("x"),
        credentials: Credentials::SameOrigin,
        read_header: None,
        preflight: Some(Reply {
            status: 308,
            headers: &[ANY, ("Location", Value::RedirectTarget)],
            body: "",
        }),
        actual: ok(&[JSON, ANY]),
        redirect_target: Some(ok(&[JSON, ANY])),
        expect: Expect::Blocked,
    },
    Scenario {
        id: "expose-missing",
        title: "GET reading X-Total-Count, not exposed",
        note: "half-broken: the fetch works but JS cannot read X-Total-Count",
        method: "GET",
        headers: &[],
        body: None,
        credentials: Credentials::SameOrigin,
        read_header: Some("X-Total-Count"),
        preflight: None,
        actual: ok(&[JSON, ANY, ("X-Total-Count", Value::Lit("128"))]),
        redirect_target: None,
        expect: Expect::Allowed,
    },
    Scenario {
        id: "expose-ok",
        title: "GET reading X-Total-Count, exposed",
        note: "correct: Access-Control-Expose-Headers lists it",
        method: "GET",
        headers: &[],
        body: None,
        credentials: Credentials::SameOrigin,
        read_header: Some("X-Total-Count"),
        preflight: None,
        actual: ok(&[
            JSON,
            ANY,
            ("X-Total-Count", Value::Lit("128")),
            ("Access-Control-Expose-Headers", Value::Lit("X-Total-Count")),
        ]),
        redirect_target: None,
        expect: Expect::Allowed,
    },
    Scenario {
        id: "redirect-cross-origin",
        title: "GET redirected to another origin that allows the page's origin",
        note: "broken: after a cross-origin redirect the Origin is 'null'",
        method: "GET",
        headers: &[],
        body: None,
        credentials: Credentials::SameOrigin,
        read_header: None,
        preflight: None,
        actual: Reply {
            status: 302,
            headers: &[ANY, ("Location", Value::RedirectTarget)],
            body: "",
        },
        redirect_target: Some(ok(&[
            JSON,
            ("Access-Control-Allow-Origin", Value::PageOrigin),
        ])),
        expect: Expect::Blocked,
    },
    Scenario {
        id: "redirect-ok",
        title: "GET redirected to another origin that allows any origin",
        note: "correct: both hops answer ACAO: *",
        method: "GET",
        headers: &[],
        body: None,
        credentials: Credentials::SameOrigin,
        read_header: None,
        preflight: None,
        actual: Reply {
            status: 302,
            headers: &[ANY, ("Location", Value::RedirectTarget)],
            body: "",
        },
        redirect_target: Some(ok(&[JSON, ANY])),
        expect: Expect::Allowed,
    },
];

/// The scenario with this id.
pub fn find(id: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.id == id)
}
