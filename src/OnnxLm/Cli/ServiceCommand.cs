using OnnxLm.Hosting;

namespace OnnxLm.Cli;

/// <summary><c>onnxlm service install|uninstall|status</c>: parses the options, resolves paths, hands over to
/// <see cref="ServiceInstaller"/>. The service manager is this OS's (launchd on macOS, systemd on Linux) unless
/// <c>--platform</c> renders for another machine (only with --dry-run).</summary>
internal static class ServiceCommand
{
    public const string Help = """
        onnxlm service install [options]   write the service file and start the service (launchd on macOS, systemd on Linux)
        onnxlm service uninstall [options] stop the service and remove its file
        onnxlm service status [options]    show the service manager's status

          --user                        per-user service (default): ~/Library/LaunchAgents or ~/.config/systemd/user
          --system                      system service (needs root): /Library/LaunchDaemons or /etc/systemd/system
          --config FILE                 config file the service passes to 'serve --config' (default:
                                        ~/.config/onnxlm/onnxlm.json when present, else none: built-in defaults)
          --binary PATH                 executable the service runs (default: this one; e.g. a stable symlink)
          --run-as USER                 with --system: account to run as (default: systemd DynamicUser; launchd root)
          --platform launchd|systemd    render for another OS's service manager (with --dry-run; default: this OS's)
          --dry-run                     print the file (stdout) and the actions (stderr) instead of doing them
        """;

    public static int Run(string[] args, TextWriter output, TextWriter notes, Func<string, IReadOnlyList<string>, int>? run = null)
    {
        if (args.Length < 2 || args[1] is "--help" or "-h")
        {
            output.WriteLine(Help);
            return args.Length < 2 ? 2 : 0;
        }
        string action = args[1];
        if (action is not ("install" or "uninstall" or "status"))
            throw new UsageException($"unknown service action '{action}' (expected install, uninstall or status)");

        var scope = ServiceScope.User;
        string? config = null, binary = null, runAs = null;
        ServicePlatform? platform = null;
        bool dryRun = false;
        var r = new ArgReader(args, 2);
        while (r.Next(out string flag, out string? v))
        {
            switch (flag)
            {
                case "--user": scope = ServiceScope.User; break;
                case "--system": scope = ServiceScope.System; break;
                case "--config": config = r.Value(flag, v); break;
                case "--binary": binary = r.Value(flag, v); break;
                case "--run-as": runAs = r.Value(flag, v); break;
                case "--dry-run": dryRun = true; break;
                case "--platform":
                    platform = r.Value(flag, v) switch
                    {
                        "launchd" => ServicePlatform.Launchd,
                        "systemd" => ServicePlatform.Systemd,
                        var other => throw new UsageException($"--platform must be launchd or systemd (got '{other}')"),
                    };
                    break;
                case "--help" or "-h":
                    output.WriteLine(Help);
                    return 0;
                default: throw new UsageException($"unknown option '{flag}' for service {action} (see onnxlm service --help)");
            }
        }

        ServicePlatform native = OperatingSystem.IsMacOS() ? ServicePlatform.Launchd : ServicePlatform.Systemd;
        if (!OperatingSystem.IsMacOS() && !OperatingSystem.IsLinux() && !dryRun)
            throw new UsageException("service install needs macOS (launchd) or Linux (systemd)");
        if (platform is { } p && p != native && !dryRun)
            throw new UsageException($"--platform {p.ToString().ToLowerInvariant()} is only for rendering: add --dry-run");
        if (runAs is not null && scope != ServiceScope.System)
            throw new UsageException("--run-as needs --system");
        ServicePlatform target = platform ?? native;

        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string? xdgConfig = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
        config = ResolveConfig(config, home, xdgConfig, notes, action == "install");
        binary = Path.GetFullPath(binary ?? Environment.ProcessPath
                                  ?? throw new UsageException("cannot tell this executable's path: pass --binary PATH"));
        if (action == "install" && !dryRun && !File.Exists(binary))
            throw new UsageException($"--binary {binary} does not exist");

        string? hubCache = action == "install" ? PullConfiguredModel(config, dryRun, notes) : null;
        var spec = new ServiceSpec(binary, config, scope, home, runAs, hubCache);
        string file = target == ServicePlatform.Launchd
            ? ServiceFiles.LaunchdPlistPath(scope, home)
            : ServiceFiles.SystemdUnitPath(scope, home, xdgConfig);
        var installer = new ServiceInstaller(target, spec, file, dryRun, output, notes, run);
        return action switch
        {
            "install" => installer.Install(),
            "uninstall" => installer.Uninstall(),
            _ => installer.Status(),
        };
    }

    /// <summary>When the config's model is a Hub repository, pulls it now (with this user's network, token and cache)
    /// and returns the cache the service will read offline; null for a folder model.</summary>
    static string? PullConfiguredModel(string? config, bool dryRun, TextWriter notes)
    {
        if (config is null) return null;
        var options = ServeConfig.Load([], 0, new Dictionary<string, string>(), config).Options;
        if (options.Model is not { } model || !Hub.HubModelRef.TryParse(model, out var reference)) return null;
        var settings = Hub.HubSettings.FromEnvironment();
        string cache = Path.GetFullPath(settings.CacheDirectory);
        if (dryRun)
        {
            notes.WriteLine($"note: would pull {reference} into {cache} now; the service serves it offline from there");
            return cache;
        }
        notes.WriteLine($"pulling {reference} into {cache} (the service will serve it offline)");
        string folder = Hub.ModelSource.ResolveAsync(model, offline: false, settings, null, notes.WriteLine, CancellationToken.None).GetAwaiter().GetResult();
        notes.WriteLine($"model {reference}: {folder}");
        return cache;
    }

    /// <summary>An explicit --config must exist (the service would fail at every start otherwise); without one, the
    /// default file is used when present.</summary>
    static string? ResolveConfig(string? config, string home, string? xdgConfig, TextWriter notes, bool installing)
    {
        if (config is not null)
        {
            string full = Path.GetFullPath(config);
            if (!File.Exists(full)) throw new UsageException($"--config {full} does not exist");
            // A key or value serve would refuse is reported now, not as a service failing at every start.
            if (installing) ServeConfig.Load([], 0, new Dictionary<string, string>(), full);
            return full;
        }
        string fallback = ConfigFile.DefaultPath(home, xdgConfig);
        if (File.Exists(fallback))
        {
            if (installing) ServeConfig.Load([], 0, new Dictionary<string, string>(), fallback);
            return fallback;
        }
        if (installing)
            notes.WriteLine($"note: no --config and no {fallback}: the service runs 'serve' with built-in defaults (the test model)");
        return null;
    }
}
