# Homebrew formula for clawfleet (README.md, "Installing on a Mac fleet"). It lives in a tap:
# `brew tap-new ORG/fleet`, copy this file to that tap's Formula/, then
# `brew install ORG/fleet/clawfleet` (the release below) or `brew install --HEAD ...` (main).
# At each release, point `url` at the release tarball and set `sha256` to
# `shasum -a 256` of it: until then the stable url is a placeholder and only --HEAD builds.
#
# `brew services start clawfleet` runs the agent as a LaunchAgent of the user who runs it, in
# that user's gui/<uid> domain: the same job as manifests/launchd/ai.clawfleet.agent.plist, and
# for the same reason (the agent restarts that user's ai.openclaw.gateway). The controller and
# the notifier are LaunchDaemons running as _clawfleet: install their plists from
# share/clawfleet/launchd as README explains; `sudo brew services` would run them as root.
class Clawfleet < Formula
  desc "GitOps reconciliation controller for fleets of OpenClaw gateway Macs"
  homepage "https://git.example.com/clawfleet/clawfleet"
  url "https://git.example.com/clawfleet/clawfleet/archive/refs/tags/v0.0.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  head "https://git.example.com/clawfleet/clawfleet.git", branch: "main"

  depends_on "pkg-config" => :build
  depends_on "curl"
  depends_on "json-c"
  depends_on "libgit2"
  depends_on "libmicrohttpd"
  depends_on "libyaml"
  depends_on "openssl@3"

  def install
    # A tarball has no Git history for `git describe`: the version comes from the formula.
    # Configurations go to Homebrew's etc, where an existing one is never replaced. Homebrew
    # writes its own LaunchAgent from the service block below, so no LaunchDaemon is installed.
    system "make", "install", "PREFIX=#{prefix}", "SYSCONFDIR=#{etc}", "LOCALSTATEDIR=#{var}",
           "LAUNCHDAEMONSDIR=", "GIT_VERSION=#{version}"
    # The three plists for share/clawfleet/launchd, naming opt_bin, which survives upgrades
    # (make names the keg's own bin): the writer Mac installs the daemons' plists from there.
    rm pkgshare/"launchd/ai.clawfleet.agent.plist"
    (pkgshare/"launchd").install Dir["manifests/launchd/*.plist"]
    inreplace Dir["#{pkgshare}/launchd/*.plist"] do |s|
      s.gsub! "/usr/local/bin/clawfleet", "#{opt_bin}/clawfleet"
      s.gsub! "/usr/local/etc/clawfleet", "#{etc}/clawfleet"
      s.gsub! "/usr/local/var/", "#{var}/"
    end
  end

  def post_install
    (var/"log/clawfleet").mkpath
  end

  def caveats
    <<~EOS
      Edit #{etc}/clawfleet/agent.yaml (mode 0600) and its token directory, then:
        brew services start clawfleet
      The controller and the notifier run as LaunchDaemons of the _clawfleet account:
      their plists are in #{opt_pkgshare}/launchd (README, "Installing on a Mac fleet").
    EOS
  end

  service do
    run [opt_bin/"clawfleet", "agent", "--config", etc/"clawfleet/agent.yaml"]
    keep_alive true
    # A configuration with errors exits 1 at once: retry every 10 s, not in a tight loop.
    restart_delay 10
    # openclaw and npm are node scripts: Homebrew's bin must be on launchd's PATH.
    environment_variables PATH: std_service_path_env
    log_path var/"log/clawfleet/agent.log"
    error_log_path var/"log/clawfleet/agent.log"
  end

  test do
    assert_match "clawfleet #{version}", shell_output("#{bin}/clawfleet version")
    assert_match "clawfleet agent --config FILE", shell_output("#{bin}/clawfleet --help")
  end
end
