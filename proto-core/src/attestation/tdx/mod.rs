//! Intel TDX quotes: parsing (V4/V5), fields, certification data, PCK certificate extensions.
