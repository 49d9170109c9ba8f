#!/usr/bin/env bash
# browser.sh: prints the path of a Chromium-family browser that can run headless (the status
# page test renders the page with it), or says what to install and exits 1. The first of:
# $CLAWFLEET_BROWSER; chromium, chromium-browser, google-chrome, google-chrome-stable,
# microsoft-edge on PATH; on macOS, Google Chrome, Chromium or Microsoft Edge in /Applications
# or ~/Applications. Homebrew's `chromium` cask is disabled (its app is not signed), so on a Mac
# this is usually Google Chrome (brew install --cask google-chrome).
set -u

if [ -n "${CLAWFLEET_BROWSER:-}" ]; then
	[ -x "$CLAWFLEET_BROWSER" ] && { echo "$CLAWFLEET_BROWSER"; exit 0; }
	echo "browser.sh: CLAWFLEET_BROWSER=$CLAWFLEET_BROWSER is not an executable" >&2
	exit 1
fi
for name in chromium chromium-browser google-chrome google-chrome-stable microsoft-edge; do
	path=$(command -v "$name") && { echo "$path"; exit 0; }
done
for apps in /Applications "$HOME/Applications"; do
	for app in "Google Chrome" Chromium "Microsoft Edge"; do
		path="$apps/$app.app/Contents/MacOS/$app"
		[ -x "$path" ] && { echo "$path"; exit 0; }
	done
done
echo "browser.sh: no browser: install chromium (Debian: apt-get install chromium) or Google Chrome (macOS: brew install --cask google-chrome), or set CLAWFLEET_BROWSER" >&2
exit 1
