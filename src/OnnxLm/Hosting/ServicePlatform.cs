namespace OnnxLm.Hosting;

/// <summary>The service manager a file is rendered for.</summary>
public enum ServicePlatform { Launchd, Systemd }
