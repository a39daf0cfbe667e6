namespace OnnxLm.Hosting;

/// <summary>Per-user service (LaunchAgent / systemd --user) or system-wide (LaunchDaemon / system unit, needs root).</summary>
public enum ServiceScope { User, System }
