//! VHD disk images (Microsoft Virtual Hard Disk v1.0): fixed, dynamic and
//! differencing; reading, writing and streaming conversion.
