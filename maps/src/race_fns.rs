//! The runtime functions the race detector names as the top frame of a
//! map access (Go's `racereadpc`/`racewritepc` on the hmap, with the
//! function's own PC): name, file and line as Go 1.19's symbolizer prints
//! them (`$GOROOT/src/runtime/map_fast64.go:93`), the line of the `func`.

use gort_scheduler::race::RuntimeFn;

macro_rules! runtime_fns {
    ($($id:ident = $name:literal, $file:literal, $line:literal;)*) => {
        $(pub(crate) static $id: RuntimeFn = RuntimeFn {
            name: concat!("runtime.", $name),
            file: concat!("src/runtime/", $file),
            line: $line,
        };)*
    };
}

runtime_fns! {
    MAPACCESS1 = "mapaccess1", "map.go", 395;
    MAPACCESS2 = "mapaccess2", "map.go", 456;
    MAPASSIGN = "mapassign", "map.go", 578;
    MAPDELETE = "mapdelete", "map.go", 695;
    MAPITERINIT = "mapiterinit", "map.go", 815;
    MAPITERNEXT = "mapiternext", "map.go", 866;
    MAPCLEAR = "mapclear", "map.go", 993;
    MAPACCESS1_FAST64 = "mapaccess1_fast64", "map_fast64.go", 13;
    MAPACCESS2_FAST64 = "mapaccess2_fast64", "map_fast64.go", 53;
    MAPASSIGN_FAST64 = "mapassign_fast64", "map_fast64.go", 93;
    MAPDELETE_FAST64 = "mapdelete_fast64", "map_fast64.go", 273;
    MAPACCESS1_FASTSTR = "mapaccess1_faststr", "map_faststr.go", 13;
    MAPACCESS2_FASTSTR = "mapaccess2_faststr", "map_faststr.go", 108;
    MAPASSIGN_FASTSTR = "mapassign_faststr", "map_faststr.go", 203;
    MAPDELETE_FASTSTR = "mapdelete_faststr", "map_faststr.go", 301;
}

/// Which of Go's variants a generic map operation on `t` stands for: the
/// compiler calls the `faststr` ones for string keys.
pub(crate) fn pick(
    t: &crate::maptype::MapType,
    generic: &'static RuntimeFn,
    faststr: &'static RuntimeFn,
) -> &'static RuntimeFn {
    if matches!(t.key, crate::maptype::MapKey::String) {
        faststr
    } else {
        generic
    }
}
