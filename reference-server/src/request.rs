//! What a decision reads: a [`Request`] holding the routed realm and the parts of an HTTP
//! request the decisions look at, borrowed from it (nothing is copied), and the form rules
//! (content type, encoding).

use std::net::IpAddr;

use crate::config::{Fault, ServerConfig};
use crate::form::{Form, FormError};
use crate::response::{ErrorCode, OAuthError, Status};
use crate::router::Realm;

const FORM_TYPE: &str = "application/x-www-form-urlencoded";

/// The request methods the decisions tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    /// Any other method, which every endpoint refuses.
    Other,
}

/// A header field the decisions read, as the request carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header<'a> {
    Absent,
    One(&'a str),
    /// Present once, with bytes outside visible ASCII.
    Unreadable,
    /// Present more than once.
    Repeated,
}

/// The request body, which the server reads only when [`Request::wants_body`] says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// Not read: the endpoint does not take a form body, or the request is not a form POST.
    Unread,
    Read(&'a [u8]),
    Failed(BodyError),
}

/// Why the server could not read a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than `max_body_bytes` (declared or sent): 413.
    TooLarge,
    /// Not complete within `body_timeout`: 408.
    TimedOut,
    /// The connection failed mid-body: 400.
    Broken,
}

impl From<BodyError> for OAuthError {
    fn from(e: BodyError) -> OAuthError {
        let code = ErrorCode::InvalidRequest;
        match e {
            BodyError::TooLarge => {
                OAuthError::new(Status::PAYLOAD_TOO_LARGE, code, "request body too large")
            }
            BodyError::TimedOut => OAuthError::new(
                Status::REQUEST_TIMEOUT,
                code,
                "request body not received in time",
            ),
            BodyError::Broken => OAuthError::bad_request(code, "request body could not be read"),
        }
    }
}

/// One request to one of a realm's endpoints, with what the decisions need of it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: Method,
    /// The realm whose endpoint was called.
    pub realm: &'a Realm,
    /// The URL's query, without `?` (empty when there is none).
    pub query: &'a str,
    pub authorization: Header<'a>,
    /// `DPoP`: a proof of possession (RFC 9449 §4).
    pub dpop: Header<'a>,
    /// `Content-Type` (the first one), when it is visible ASCII.
    pub content_type: Option<&'a str>,
    /// The TCP peer's address: a forwarded-for header is whatever the sender says.
    pub peer: IpAddr,
    /// The certificate the client presented in the TLS handshake (RFC 8705).
    pub client_certificate: Option<&'a crate::mtls::ClientCertificate>,
    /// The resource server's own introspection call: it carried the server's internal
    /// proof (a random value made at start that never leaves the process), so brute-force
    /// protection does not apply to it.
    pub internal: bool,
    pub body: Body<'a>,
    /// The writes a race fault mode defers until after its window (`race.rs`); the server
    /// makes them before it answers.
    pub deferred: &'a crate::race::Deferred,
}

impl<'a> Request<'a> {
    /// True when the server should read the body for an endpoint that takes a form: a POST
    /// that declares a form. Anything else is refused before its body matters.
    pub fn wants_body(&self) -> bool {
        self.method == Method::Post && self.is_form()
    }

    /// True when the request declares a form body; the media type is case-insensitive and
    /// may carry parameters such as `charset` (RFC 9110 §8.3.1).
    pub fn is_form(&self) -> bool {
        // What nearly every client sends, compared at once.
        if self.content_type == Some(FORM_TYPE) {
            return true;
        }
        self.content_type
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case(FORM_TYPE))
    }

    /// The form of a POST to introspection or revocation: the method (405 names `what`),
    /// then the content type, size and encoding.
    pub fn post_form(
        &self,
        config: &ServerConfig,
        what: &'static str,
    ) -> Result<Form<'a>, OAuthError> {
        if self.method != Method::Post {
            return Err(OAuthError::new(
                Status::METHOD_NOT_ALLOWED,
                ErrorCode::InvalidRequest,
                what,
            ));
        }
        self.form_body(config)
    }

    /// The body's bytes as read (empty when it was not read); only fault modes look at them
    /// beside the decoded form.
    pub fn raw_body(&self) -> &[u8] {
        match self.body {
            Body::Read(bytes) => bytes,
            Body::Unread | Body::Failed(_) => b"",
        }
    }

    /// The form body: content type, size and encoding.
    pub fn form_body(&self, config: &ServerConfig) -> Result<Form<'a>, OAuthError> {
        if !self.is_form() {
            return Err(OAuthError::bad_request(
                ErrorCode::InvalidRequest,
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        match self.body {
            Body::Read(bytes) => parse_form(bytes, config),
            // The server reads every body `wants_body` asks for, so this is an empty one.
            Body::Unread => parse_form(b"", config),
            Body::Failed(e) => Err(e.into()),
        }
    }
}

/// Parses a form, mapping malformed input to `invalid_request`.
pub fn parse_form<'b>(body: &'b [u8], config: &ServerConfig) -> Result<Form<'b>, OAuthError> {
    let repeats = config.has(Fault::AcceptRepeatedParameters);
    if config.has(Fault::PlusNotSpace) {
        // A URL decoder, not a form decoder: `+` stays `+`, as if it had been sent as %2B.
        let body: Vec<u8> = body
            .iter()
            .flat_map(|b| match b {
                b'+' => &b"%2B"[..],
                other => std::slice::from_ref(other),
            })
            .copied()
            .collect();
        return Form::parse(&body, repeats)
            .map(Form::into_owned)
            .map_err(form_error);
    }
    Form::parse(body, repeats).map_err(form_error)
}

/// A form problem as a 400 `invalid_request`.
fn form_error(e: FormError) -> OAuthError {
    let description = match e {
        FormError::BadPercentEscape => "malformed percent-encoding in the request",
        FormError::NotUtf8 => "request parameters must be UTF-8",
        FormError::Repeated(_) => "request parameters must not be repeated",
        FormError::TooManyParameters => "too many request parameters",
    };
    OAuthError::bad_request(ErrorCode::InvalidRequest, description)
}

/// Requests for the decisions' unit tests, built without a socket.
#[cfg(test)]
pub mod testing {
    use std::net::{IpAddr, Ipv4Addr};

    use base64::Engine;

    use super::{Body, Header, Method, Request};
    use crate::app::App;
    use crate::clients::ROOT_REALM;
    use crate::config::ServerConfig;
    use crate::jwt::JwtSigner;

    pub const FORM: &str = "application/x-www-form-urlencoded";

    /// An app for `config`, served at `http://rs.test`.
    pub fn app(config: ServerConfig) -> App {
        App::new(config, JwtSigner::fixture(), "http://rs.test".into())
    }

    /// The owned parts of a request; [`TestRequest::at`] borrows them as a [`Request`].
    pub struct TestRequest {
        pub method: Method,
        pub realm: String,
        pub query: String,
        pub authorization: Option<String>,
        /// `DPoP` header values (two or more: repeated).
        pub dpop: Vec<String>,
        pub content_type: Option<&'static str>,
        pub body: Vec<u8>,
        pub client_certificate: Option<crate::mtls::ClientCertificate>,
        /// What a race fault's decision deferred (`deferred.run_now()` makes it).
        pub deferred: crate::race::Deferred,
    }

    impl TestRequest {
        /// A form POST in the root realm.
        pub fn post(body: &str) -> TestRequest {
            TestRequest {
                method: Method::Post,
                realm: ROOT_REALM.into(),
                query: String::new(),
                authorization: None,
                dpop: Vec::new(),
                content_type: Some(FORM),
                body: body.as_bytes().to_vec(),
                client_certificate: None,
                deferred: Default::default(),
            }
        }

        /// Over a connection with this client certificate (PEM).
        pub fn certificate(mut self, pem: &str) -> TestRequest {
            use rustls::pki_types::{pem::PemObject, CertificateDer};
            let der = CertificateDer::from_pem_slice(pem.as_bytes()).expect("a PEM certificate");
            self.client_certificate = crate::mtls::ClientCertificate::new(&[der]);
            self
        }

        /// With `Authorization: Basic` for `id` and `secret` (no form-encoding needed).
        pub fn basic(mut self, id: &str, secret: &str) -> TestRequest {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            self.authorization = Some(format!("Basic {encoded}"));
            self
        }

        /// With a `DPoP` header.
        pub fn dpop(mut self, proof: &str) -> TestRequest {
            self.dpop.push(proof.into());
            self
        }

        pub fn method(mut self, method: Method) -> TestRequest {
            self.method = method;
            self
        }

        pub fn query(mut self, query: &str) -> TestRequest {
            self.query = query.into();
            self
        }

        pub fn content_type(mut self, content_type: Option<&'static str>) -> TestRequest {
            self.content_type = content_type;
            self
        }

        pub fn realm(mut self, realm: &str) -> TestRequest {
            self.realm = realm.into();
            self
        }

        /// The request as the server would hand it to a decision of `app`.
        pub fn at<'a>(&'a self, app: &'a App) -> Request<'a> {
            let mut request = Request {
                method: self.method,
                realm: app.realms.get(&self.realm).expect("a known realm"),
                query: &self.query,
                authorization: self
                    .authorization
                    .as_deref()
                    .map_or(Header::Absent, Header::One),
                dpop: match &self.dpop[..] {
                    [] => Header::Absent,
                    [one] => Header::One(one),
                    _ => Header::Repeated,
                },
                content_type: self.content_type,
                peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
                client_certificate: self.client_certificate.as_ref(),
                internal: false,
                body: Body::Unread,
                deferred: &self.deferred,
            };
            if request.wants_body() {
                request.body = Body::Read(&self.body);
            }
            request
        }
    }

    /// A token issued to `id` in the root realm, as the token endpoint answers it.
    pub fn issued_token(app: &App, id: &str, secret: &str) -> String {
        let request = TestRequest::post("grant_type=client_credentials").basic(id, secret);
        let reply = crate::endpoints::token::issue(app, &request.at(app));
        assert_eq!(
            reply.status,
            crate::response::Status::OK,
            "{:?}",
            reply.body
        );
        reply.json_body()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}
