/// The names of media feed ports: OVS internal ports named `sipfeed…` (`sipfeed0`) that a sipspan on
/// the same node reads the media NICs' SIP from (the planner's `MediaFeedPort`, the doctor's checks).
public enum MediaFeedName {
    public static let prefix = "sipfeed"

    /// Whether a port of this name is a media feed port.
    public static func matches(_ portName: String) -> Bool { portName.hasPrefix(prefix) }
}
