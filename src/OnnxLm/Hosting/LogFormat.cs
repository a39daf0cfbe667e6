namespace OnnxLm.Hosting;

/// <summary>How log lines are written: human-readable text, or one JSON object per line (for log shippers).</summary>
public enum LogFormat : byte { Text, Json }
