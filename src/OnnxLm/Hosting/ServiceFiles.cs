using System.Text;

namespace OnnxLm.Hosting;

/// <summary>
/// Renders the launchd plist and the systemd unit for <c>onnxlm service install</c>, and knows where each goes.
/// Pure functions of a <see cref="ServiceSpec"/> (no file system, no environment), so tests pin the exact output.
/// Both restart the server only on failure (a SIGTERM stop exits 0 and stays stopped) and run <c>serve --config FILE</c>.
/// </summary>
public static class ServiceFiles
{
    public const string LaunchdLabel = "com.onnxlm.server";
    public const string SystemdUnitName = "onnxlm.service";

    /// <summary>~/Library/LaunchAgents/com.onnxlm.server.plist or /Library/LaunchDaemons/com.onnxlm.server.plist.</summary>
    public static string LaunchdPlistPath(ServiceScope scope, string home) => scope == ServiceScope.User
        ? Path.Combine(home, "Library", "LaunchAgents", LaunchdLabel + ".plist")
        : Path.Combine("/Library", "LaunchDaemons", LaunchdLabel + ".plist");

    /// <summary>Where launchd sends the server's stdout/stderr.</summary>
    public static string LaunchdLogDirectory(ServiceScope scope, string home) => scope == ServiceScope.User
        ? Path.Combine(home, "Library", "Logs", "onnxlm")
        : "/Library/Logs/onnxlm";

    /// <summary>$XDG_CONFIG_HOME/systemd/user/onnxlm.service (default ~/.config) or /etc/systemd/system/onnxlm.service.</summary>
    public static string SystemdUnitPath(ServiceScope scope, string home, string? xdgConfigHome) => scope == ServiceScope.User
        ? Path.Combine(string.IsNullOrEmpty(xdgConfigHome) ? Path.Combine(home, ".config") : xdgConfigHome, "systemd", "user", SystemdUnitName)
        : Path.Combine("/etc", "systemd", "system", SystemdUnitName);

    public static string RenderLaunchdPlist(ServiceSpec spec)
    {
        string logs = LaunchdLogDirectory(spec.Scope, spec.HomeDirectory);
        var s = new StringBuilder();
        s.Append("""
            <?xml version="1.0" encoding="UTF-8"?>
            <!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
            <plist version="1.0">
            <dict>

            """);
        Key(s, "Label").Append("  <string>").Append(Xml(LaunchdLabel)).Append("</string>\n");
        Key(s, "ProgramArguments").Append("  <array>\n");
        foreach (string arg in ServeArguments(spec)) s.Append("    <string>").Append(Xml(arg)).Append("</string>\n");
        s.Append("  </array>\n");
        if (spec.HubCache is { } hubCache)
        {
            Key(s, "EnvironmentVariables").Append("  <dict>\n");
            s.Append("    <key>HF_HUB_CACHE</key>\n    <string>").Append(Xml(hubCache)).Append("</string>\n");
            s.Append("    <key>HF_HUB_OFFLINE</key>\n    <string>1</string>\n  </dict>\n");
        }
        Key(s, "RunAtLoad").Append("  <true/>\n");
        // Restart after a crash or error exit, not after a clean stop (exit 0), like systemd's Restart=on-failure.
        Key(s, "KeepAlive").Append("  <dict>\n    <key>SuccessfulExit</key>\n    <false/>\n  </dict>\n");
        Key(s, "ThrottleInterval").Append("  <integer>5</integer>\n");
        // Seconds between SIGTERM and SIGKILL: room for the drain of running requests.
        Key(s, "ExitTimeOut").Append("  <integer>90</integer>\n");
        Key(s, "ProcessType").Append("  <string>Standard</string>\n");
        Key(s, "StandardOutPath").Append("  <string>").Append(Xml(Path.Combine(logs, "onnxlm.log"))).Append("</string>\n");
        Key(s, "StandardErrorPath").Append("  <string>").Append(Xml(Path.Combine(logs, "onnxlm.err.log"))).Append("</string>\n");
        if (spec.Scope == ServiceScope.System && spec.RunAsUser is { Length: > 0 } user)
            Key(s, "UserName").Append("  <string>").Append(Xml(user)).Append("</string>\n");
        s.Append("</dict>\n</plist>\n");
        return s.ToString();

        static StringBuilder Key(StringBuilder s, string key) => s.Append("  <key>").Append(key).Append("</key>\n");
    }

    public static string RenderSystemdUnit(ServiceSpec spec)
    {
        bool system = spec.Scope == ServiceScope.System;
        var s = new StringBuilder();
        s.Append("""
            [Unit]
            Description=onnxlm - OpenAI-compatible LLM server on ONNX Runtime
            After=network-online.target
            Wants=network-online.target

            [Service]
            Type=notify
            NotifyAccess=main

            """);
        s.Append("ExecStart=");
        var args = ServeArguments(spec);
        for (int i = 0; i < args.Count; i++)
        {
            if (i > 0) s.Append(' ');
            s.Append(ExecArg(args[i]));
        }
        s.Append('\n');
        s.Append("""
            Restart=on-failure
            RestartSec=2
            # Loading a large model can take minutes; READY=1 is sent once it is loaded and warmed up.
            TimeoutStartSec=15min
            # Room for the drain of running requests after SIGTERM.
            TimeoutStopSec=90
            # The native libraries are extracted under $XDG_CACHE_HOME/onnxlm (%C is /var/cache or ~/.cache).
            Environment=XDG_CACHE_HOME=%C
            CacheDirectory=onnxlm
            ReadWritePaths=-%C/onnxlm

            """);
        if (spec.HubCache is { } hubCache)
        {
            // The model was pulled at install time; the service only reads the Hugging Face cache.
            s.Append("Environment=").Append(ExecArg("HF_HUB_CACHE=" + hubCache)).Append('\n');
            s.Append("Environment=HF_HUB_OFFLINE=1\n");
        }
        if (system)
        {
            if (spec.RunAsUser is { Length: > 0 } user) s.Append("User=").Append(user).Append('\n');
            else s.Append("DynamicUser=yes\n");
        }
        s.Append("""
            NoNewPrivileges=yes
            ProtectSystem=strict
            ProtectHome=read-only
            PrivateTmp=yes
            UMask=0077

            """);
        if (system)
        {
            // Kernel-facing hardening only a system manager can set up (user units would need PrivateUsers=).
            s.Append("""
                PrivateDevices=yes
                ProtectKernelTunables=yes
                ProtectKernelModules=yes
                ProtectKernelLogs=yes
                ProtectControlGroups=yes
                ProtectClock=yes
                ProtectHostname=yes
                RestrictNamespaces=yes
                RestrictRealtime=yes
                RestrictSUIDSGID=yes
                LockPersonality=yes
                RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
                SystemCallArchitectures=native
                CapabilityBoundingSet=

                """);
        }
        s.Append("\n[Install]\nWantedBy=").Append(system ? "multi-user.target" : "default.target").Append('\n');
        return s.ToString();
    }

    /// <summary>The server command line: binary, <c>serve</c>, and <c>--config FILE</c> when a config is given.</summary>
    public static IReadOnlyList<string> ServeArguments(ServiceSpec spec)
    {
        List<string> args = spec.ConfigPath is null ? [spec.BinaryPath, "serve"] : [spec.BinaryPath, "serve", "--config", spec.ConfigPath];
        if (spec.HubCache is not null) args.Add("--offline");
        return args;
    }

    static string Xml(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
        .Replace(">", "&gt;", StringComparison.Ordinal).Replace("\"", "&quot;", StringComparison.Ordinal);

    /// <summary>One ExecStart word: '%' and '$' are systemd specifier/variable syntax and are doubled; words with spaces,
    /// quotes or backslashes are double-quoted with C escapes.</summary>
    static string ExecArg(string arg)
    {
        string escaped = arg.Replace("%", "%%", StringComparison.Ordinal).Replace("$", "$$", StringComparison.Ordinal);
        if (escaped.Length > 0 && escaped.AsSpan().IndexOfAny(" \t\"'\\;") < 0) return escaped;
        return "\"" + escaped.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
    }
}
