using System.Text.Json.Serialization;

namespace Osprey.LoadTest;

/// <summary>Source-generated JSON metadata for <see cref="LoadReport"/> and <see cref="SoakReport"/>, so that writing the report needs no reflection.</summary>
[JsonSourceGenerationOptions(
    WriteIndented = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(LoadReport))]
[JsonSerializable(typeof(SoakReport))]
[JsonSerializable(typeof(string))]
internal sealed partial class LoadReportJsonContext : JsonSerializerContext;
