//! The web desk in a real browser (headless Chromium through WebDriver)
//! against real node processes: signing in with a second factor, the inbox,
//! languages. Each page's own story is a module here; `scenario` is the
//! whole case of the desk's acceptance, in English and in Arabic.

mod evidence;
mod inbox;
mod oversight;
mod scenario;
mod screenshots;
mod signin;
